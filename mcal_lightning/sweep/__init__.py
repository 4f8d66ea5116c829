"""Optuna sweeps: the sweep file, the study, the run and its end, the leaderboard."""

from mcal_lightning.exports import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "config": ("Sweep", "SweepFileError", "load_sweep"),
    "study": ("default_storage", "open_study", "study_names"),
    "run": ("Objective", "StudyMismatch", "SweepOutcome", "run_sweep", "trial_states"),
    "end": ("end_sweep",),
})
