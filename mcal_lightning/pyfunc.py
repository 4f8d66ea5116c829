"""Old name of ``mcal_lightning.tracking.pyfunc``, kept for models logged before the move.

A logged model's own copy of ``pyfunc_model.py`` imports this module by name; do not remove it.
"""

from mcal_lightning.tracking.pyfunc import (
    SIGNATURE,
    THRESHOLD,
    UnsupportedModel,
    as_image,
    load_model,
    log_pyfunc,
    preprocess_config,
    rows_of,
    temperature_of,
)

__all__ = ["SIGNATURE", "THRESHOLD", "UnsupportedModel", "as_image", "load_model", "log_pyfunc",
           "preprocess_config", "rows_of", "temperature_of"]
