"""The data side of training: the cache's DataModule, augmentation and patient splits."""

from mcal_lightning.exports import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "datamodule": ("CacheDataModule", "CacheDataset"),
    "augment": ("AugmentConfig", "augment_config", "make_augmenter", "preset"),
    "splits": ("LeakageError", "assert_no_patient_overlap", "grouped_folds", "train_val_split"),
})
