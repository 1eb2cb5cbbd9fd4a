"""The launcher contract: take validated cells, run each through ``ablations.train.run``, report each result."""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any, ClassVar

from ablations.grid import Cell

OnResult = Callable[[Cell, dict[str, Any]], None]
"""Called once per cell as it finishes (in the launching process), with the cell's result dict."""


class Launcher(abc.ABC):
    """Runs cells somewhere. ``Config`` is the schema of ``launcher.*``; ``cfg`` an instance of it."""

    Config: ClassVar[type]

    def __init__(self, cfg: Any):
        self.cfg = cfg
        self.interrupted: int | None = None
        """The signal (SIGTERM/SIGINT) that stopped the last :meth:`launch` early; None when it was not
        stopped. A cell cancelled from outside (``scancel`` of one job) does not set it."""

    @abc.abstractmethod
    def launch(self, cells: list[Cell], on_result: OnResult, retry_failed: bool = False) -> None:
        """Run ``cells`` (none of them finished, unless ``retry_failed``), calling ``on_result`` as each ends.

        Returns when every cell has a result, or early after SIGTERM/SIGINT, once the running cells have
        checkpointed (their result then has status ``cancelled``). Raises ``ConfigError`` when the cells are
        refused before any of them runs (a scheduler rejecting the resources asked for).
        """
