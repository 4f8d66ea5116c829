"""Optuna sweeps: the sweep file, the study, the trials, the run and its end, the leaderboard."""

from mcal_lightning.exports import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "config": ("Sweep", "SweepFileError", "load_sweep"),
    "study": ("default_storage", "open_study", "study_names", "trial_states"),
    "objective": ("Objective",),
    "run": ("StudyMismatch", "SweepOutcome", "run_sweep"),
    "end": ("end_sweep",),
})
