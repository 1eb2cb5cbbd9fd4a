"""User mixers from the user's own modules: importing a module runs its ``@register_mixer`` decorators.

The runner calls :func:`import_plugins` with the config's ``plugins: [my_pkg.my_mixers]`` before it builds
anything, so a grid can name ``mixer: my_mixer`` without any change inside seqzoo.
"""

from __future__ import annotations

import importlib

from zoo.registry import ConfigError, list_mixers


def import_plugins(modules: list[str] | tuple[str, ...]) -> list[str]:
    """Import each dotted module name in ``modules``; return the mixer names they registered, sorted.

    Raises ``ConfigError`` naming the module when one cannot be imported (not installed, not on ``sys.path``).
    """
    before = set(list_mixers())
    for module in modules:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as error:
            if error.name is None or not (module == error.name or module.startswith(error.name + ".")):
                raise  # the plugin exists but one of its own imports is missing: show that error as it is
            raise ConfigError(
                f"plugins: cannot import {module!r} ({error}). Install the package that provides it, or run from "
                "the directory that contains it so it is on sys.path."
            ) from error
    return sorted(set(list_mixers()) - before)
