"""The classifiers: the CNN (backbones, LightningModule, fine-tuning) and the feature baseline."""

from mcal_lightning.exports import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "backbones": ("ARCHS", "ClassifierNet", "WeightsUnavailable", "build_network"),
    "module": ("CalcClassifier", "trainer_precision"),
    "finetuning": ("TwoStageFinetuning", "one_cycle"),
    "baseline": ("BaselineConfig", "BaselineResult", "run_baseline"),
    "baseline_features": ("FEATURE_GROUPS", "extract_features"),
})
