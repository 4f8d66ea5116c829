"""Training progress for a log that is not a terminal: plain lines, at most one a minute.

Lightning's Rich progress bar redraws one frame in place; written to a file or a pipe (make,
CI, nohup) only its last frame is left. Off a terminal, fits report here instead: a line when a
minute has passed since the last one, so a short fit prints nothing and a long one stays
readable. A terminal keeps Lightning's own bar.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, TextIO

import lightning.pytorch as pl
from lightning.pytorch.callbacks import ProgressBar

INTERVAL_S = 60.0


def progress_line(epoch: int, epochs: int, batch: int, batches: float,
                  metrics: Mapping[str, Any]) -> str:
    """``epoch 2/4, batch 10/14: train/loss 0.612, val/mcc 0.31`` (1-based epoch and batch)."""
    total = "?" if batches == float("inf") else str(int(batches))
    shown = ", ".join(f"{name} {value:.3g}" if isinstance(value, float) else f"{name} {value}"
                      for name, value in metrics.items() if name != "v_num")
    return f"epoch {epoch}/{epochs}, batch {batch}/{total}" + (f": {shown}" if shown else "")


class LineProgress(ProgressBar):
    """A progress display that writes whole lines, at most one every ``interval`` seconds."""

    def __init__(self, interval: float = INTERVAL_S, stream: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.interval, self.stream, self.clock = interval, stream, clock
        self.enabled = True
        self.last = 0.0

    def disable(self) -> None:
        self.enabled = False

    def enable(self) -> None:
        self.enabled = True

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.last = self.clock()

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                           outputs: Any, batch: Any, batch_idx: int) -> None:
        now = self.clock()
        if not self.enabled or now - self.last < self.interval:
            return
        self.last = now
        line = progress_line(trainer.current_epoch + 1, trainer.max_epochs or 0, batch_idx + 1,
                             self.total_train_batches, self.get_metrics(trainer, pl_module))
        print(line, file=self.stream or sys.stderr, flush=True)


def log_progress() -> list[pl.Callback]:
    """The progress callback for this process's output: none on a terminal (Lightning's)."""
    return [] if sys.stdout.isatty() else [LineProgress()]
