"""MLflow: the store, parent and child runs, the pyfunc, the registry, prediction, the champion."""

from mcal_lightning.exports import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "store": ("DEFAULT_EXPERIMENT", "LOCAL_STORE", "REGISTERED_MODEL", "experiment_id",
              "log_figure", "model_uri", "tracking_uri", "use_tracking"),
    "runs": ("child_run", "parent_run"),
    "pyfunc": ("UnsupportedModel", "load_model", "log_pyfunc"),
    "registry": ("latest_run", "register"),
    "predict": ("found_files", "image_paths", "predict_chunks", "predict_files"),
    "champion": ("crown",),
})
