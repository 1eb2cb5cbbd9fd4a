"""The built-in mixers; importing this package registers them (one file per mixer)."""

from zoo.mixers import attention, b2s6, legs_ssm, mamba, ncs_ssm, s4d, s6  # noqa: F401
