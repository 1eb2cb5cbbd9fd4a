"""The built-in mixers; importing this package registers them (one file per mixer)."""

from zoo.mixers import s4d  # noqa: F401
