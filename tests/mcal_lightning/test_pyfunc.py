import cv2
import numpy as np
import pandas as pd
import pytest

from mcal_lightning.pyfunc import UnsupportedModel, as_image, preprocess_config, rows_of
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
    np.testing.assert_array_equal(as_image(png.tobytes()), image.astype(np.float32))
    np.testing.assert_array_equal(as_image(image), image.astype(np.float32))
    with pytest.raises(UnreadableImage, match="2-D"):
        as_image(np.zeros((2, 3, 4)))


def test_rows_of_accepts_frames_lists_and_one_array():
    image = np.eye(4)
    assert len(rows_of(pd.DataFrame({"image": [b"a", b"b"]}))) == 2
    assert len(rows_of([image, image, image])) == 3
    assert len(rows_of(image)) == 1
