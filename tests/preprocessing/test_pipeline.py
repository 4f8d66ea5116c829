import numpy as np
import pytest

from preprocessing.pipeline import PreprocessConfig, process_roi, quantise, resize_square


def test_config_key_follows_every_field():
    base = PreprocessConfig()
    variants = [PreprocessConfig(size=64), PreprocessConfig(filter="median"),
                PreprocessConfig(aspect="pad"), PreprocessConfig(artifacts=False),
                PreprocessConfig(dtype="uint8")]
    keys = {base.key(), *(v.key() for v in variants)}
    assert len(keys) == 1 + len(variants)
    assert PreprocessConfig().key() == base.key()


@pytest.mark.parametrize(("field", "value"), [("filter", "gaussian"), ("aspect", "crop"),
                                              ("dtype", "float16"), ("size", 2)])
def test_bad_config_names_the_choices(field: str, value: object):
    with pytest.raises(ValueError, match=field if field != "size" else "at least"):
        PreprocessConfig(**{field: value})


def test_stretch_and_pad():
    wide = np.ones((20, 80), np.float32)
    assert resize_square(wide, 32, "stretch").min() == 1.0
    padded = resize_square(wide, 32, "pad")
    assert padded.shape == (32, 32)
    assert padded[0].max() == 0.0 and padded[16].min() == 1.0, "pad keeps the aspect, centred"


def test_upsampling_small_crops():
    assert resize_square(np.eye(5, dtype=np.float32), 64, "stretch").shape == (64, 64)


def test_quantise_uses_the_full_range():
    unit = np.linspace(0, 1, 11, dtype=np.float32)
    assert quantise(unit, "uint16")[[0, -1]].tolist() == [0, 65535]
    assert quantise(unit, "uint8")[[0, -1]].tolist() == [0, 255]


def test_process_roi_shape_and_dtype():
    image = np.random.default_rng(0).normal(2000, 300, (90, 70)).astype(np.float32)
    out = process_roi(image, PreprocessConfig(size=48, filter="adaptive_median"))
    assert out.shape == (48, 48) and out.dtype == np.uint16
    assert out.max() > out.min()
