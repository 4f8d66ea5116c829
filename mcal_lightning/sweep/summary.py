"""A sweep's model summaries: one artifact per architecture on the parent run, never printed.

Lightning prints its model-summary table at every fit; in a sweep that is the same table once
per trial. Here each architecture's table is logged once, as ``model_summary/ARCH.txt`` on the
sweep's parent run, and the trial keeps only the parameter count for its console line.
"""

from __future__ import annotations

import lightning.pytorch as pl
from lightning.pytorch.callbacks import ModelSummary
from mlflow import MlflowClient

FOLDER = "model_summary"
PARAMETERS = "parameters"  # trial user attr: the model's parameter count


class SummaryOnParent(ModelSummary):
    """Lightning's model summary as the parent run's artifact, in place of the printed one.

    Being a ModelSummary, it stops Lightning from adding its own (printing) summary callback.
    ``parameters`` holds the model's parameter count after the fit starts (in this process; a
    DDP-spawned fit counts in its workers, and it stays None here).
    """

    def __init__(self, parent_run_id: str, arch: str) -> None:
        super().__init__(max_depth=1)
        self.parent_run_id, self.arch = parent_run_id, arch
        self.parameters: int | None = None

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        summary = self._summary(trainer, pl_module)
        self.parameters = int(summary.total_parameters)
        if trainer.is_global_zero and not self.logged():
            MlflowClient().log_text(self.parent_run_id, str(summary), self.artifact())

    def artifact(self) -> str:
        return f"{FOLDER}/{self.arch}.txt"

    def logged(self) -> bool:
        found = MlflowClient().list_artifacts(self.parent_run_id, FOLDER)
        return any(item.path == self.artifact() for item in found)
