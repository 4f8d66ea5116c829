"""Grad-CAM: the maps, the test split's grids logged to MLflow, overlays of predicted files,
and how much of a map lies on a phantom ROI's calcifications."""

from mcal_lightning.exports import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "gradcam": ("cam_figure", "cam_maps", "overlay"),
    "test_grids": ("log_cam_artifacts",),
    "file_overlays": ("write_cam_overlays",),
    "cam_mass": ("coverage_map", "mass_inside"),
})
