"""Dataset tools: ``python -m ablations.data list | listops | pathfinder`` (see ``__main__``).

``listops`` and ``pathfinder`` regenerate the Long Range Arena's ListOps and Pathfinder sets locally with
the original procedures, laid out like the official release so the ``lra_*`` tasks read them unchanged.
"""
