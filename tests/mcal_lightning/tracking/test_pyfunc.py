import cv2
import numpy as np
import pandas as pd
import pytest

from mcal_lightning.tracking.pyfunc import UnsupportedModel, as_image, preprocess_config, rows_of
from preprocessing.images import UnreadableImage
from preprocessing.pipeline import PIPELINE_VERSION, PreprocessConfig

RECORDED = {**PreprocessConfig(size=64).as_dict(), "filter_reason": "chosen on the command line"}


def test_recorded_config_is_reproduced_exactly():
    assert preprocess_config(RECORDED) == PreprocessConfig(size=64)


@pytest.mark.parametrize(("change", "message"), [
    ({"version": PIPELINE_VERSION + 1}, "preprocessing version"),
    ({"filter": "wavelet"}, "cannot be reproduced"),
])
def test_unreproducible_preprocessing_is_refused(change: dict, message: str):
    with pytest.raises(UnsupportedModel, match=message):
        preprocess_config({**RECORDED, **change})


def test_inputs_can_be_file_bytes_or_arrays():
    image = np.arange(40 * 30, dtype=np.uint16).reshape(40, 30)
    ok, png = cv2.imencode(".png", image)
    assert ok
    for value in (png.tobytes(), image):
        decoded, spacing = as_image(value)
        np.testing.assert_array_equal(decoded, image.astype(np.float32))
        assert spacing is None  # neither a PNG nor an array says its pixel size
    with pytest.raises(UnreadableImage, match="2-D"):
        as_image(np.zeros((2, 3, 4)))


def test_dicom_bytes_bring_their_pixel_spacing(tmp_path):
    """A fixed-spacing cache's model resamples what it serves by the file's own PixelSpacing."""
    from tests.conftest import write_dicom

    pixels = np.arange(20 * 24, dtype=np.uint16).reshape(20, 24)
    path = write_dicom(tmp_path / "roi.dcm", pixels,
                       PixelSpacing=[0.05, 0.07])
    decoded, spacing = as_image(path.read_bytes())
    assert decoded.shape == (20, 24) and spacing == pytest.approx((0.05, 0.07))


def test_rows_of_accepts_frames_lists_and_one_array():
    image = np.eye(4)
    assert len(rows_of(pd.DataFrame({"image": [b"a", b"b"]}))) == 2
    assert len(rows_of([image, image, image])) == 3
    assert len(rows_of(image)) == 1


def test_tta_is_a_parameter_of_models_logged_today_only():
    from mlflow.models import Model
    from mlflow.models.signature import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

    from mcal_lightning.tracking.pyfunc import SIGNATURE, accepts_param

    class Loaded:
        def __init__(self, signature: ModelSignature) -> None:
            self.metadata = Model(signature=signature)

    before = ModelSignature(inputs=Schema([ColSpec("binary", "image")]),
                            params=ParamSchema([ParamSpec("strict", "boolean", False)]))
    assert accepts_param(Loaded(SIGNATURE), "tta")
    assert not accepts_param(Loaded(before), "tta")
    assert accepts_param(Loaded(before), "strict")


def test_the_pyfunc_averages_its_calibrated_probability_over_the_views():
    import torch

    from mcal_lightning.tracking.pyfunc_model import CalcPyfunc

    weights = torch.from_numpy(np.random.default_rng(1).normal(size=(8, 8)).astype(np.float32))

    class PixelWeights(torch.nn.Module):  # not flip-invariant
        def forward(self, images: torch.Tensor) -> torch.Tensor:
            return (images[:, 0] * weights).sum(dim=(-2, -1))

    pyfunc = CalcPyfunc()
    pyfunc.module, pyfunc.temperature = PixelWeights(), 2.0
    image = np.random.default_rng(2).integers(0, 65535, (8, 8)).astype(np.uint16)
    flipped = [image, image[:, ::-1], image[::-1], image[::-1, ::-1]]
    each = [pyfunc.probabilities([np.ascontiguousarray(a)])[0] for a in flipped]
    assert pyfunc.probabilities([image], "flips")[0] == pytest.approx(np.mean(each), rel=1e-6)
    assert pyfunc.probabilities([image], "none")[0] == pytest.approx(each[0])
    with pytest.raises(ValueError, match="unknown tta"):
        pyfunc.predict(None, pd.DataFrame({"image": [image]}), params={"tta": "turns"})
