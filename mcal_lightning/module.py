"""Old name of ``mcal_lightning.models.module``, kept for models logged before the move.

A logged model's own copy of ``pyfunc_model.py`` imports ``CalcClassifier`` from here by name;
do not remove it.
"""

from mcal_lightning.models.module import CalcClassifier, trainer_precision

__all__ = ["CalcClassifier", "trainer_precision"]
