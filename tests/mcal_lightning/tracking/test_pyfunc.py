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
