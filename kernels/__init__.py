"""Sequence-mixing kernels. Knows nothing of the rest of seqzoo.

The one public op is :func:`selective_scan`, the scan contract every SSM mixer calls.
"""

from kernels.scan import BACKENDS, selective_scan

__all__ = ["BACKENDS", "selective_scan"]
