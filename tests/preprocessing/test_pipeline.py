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


# --- fixed-spacing mode -------------------------------------------------------------------

def test_fixed_spacing_resamples_to_the_physical_size_then_pads_or_crops():
    from preprocessing.pipeline import resample_to_spacing, resize_roi

    crop = np.ones((400, 400), np.float32)  # 400 px at 0.05 mm = 20 mm
    assert resample_to_spacing(crop, (0.05, 0.05), 0.1).shape == (200, 200)
    padded = resize_roi(crop, PreprocessConfig(size=224, spacing_mm=0.1), (0.05, 0.05))
    assert padded.shape == (224, 224)
    content = np.argwhere(padded > 0)
    assert content.min(axis=0).tolist() == [12, 12] and content.max(axis=0).tolist() == [211, 211]
    assert padded[12:212, 12:212].min() == 1.0, "200 px of content, centred"
    cropped = resize_roi(crop, PreprocessConfig(size=128, spacing_mm=0.1), (0.05, 0.05))
    assert cropped.shape == (128, 128) and cropped.min() == 1.0, "centre 128 of 200 px"


def test_fixed_spacing_keeps_the_aspect_and_centres_the_crop():
    from preprocessing.pipeline import resize_roi

    wide = np.zeros((100, 600), np.float32)
    wide[:, 290:310] = 1.0  # a 1 mm bar in the middle of a 6 x 1 mm crop at 0.01 mm/px
    out = resize_roi(wide, PreprocessConfig(size=32, spacing_mm=0.1), (0.01, 0.01))
    assert out.shape == (32, 32)
    rows_with_content = np.flatnonzero(out.max(axis=1) > 0)
    assert rows_with_content.tolist() == list(range(11, 21)), "10 rows of content, padded"
    assert np.flatnonzero(out.max(axis=0) > 0.5).tolist() == [15, 16], "bar stays centred"


def test_fixed_spacing_downsampling_averages_like_inter_area():
    from preprocessing.pipeline import resample_to_spacing

    dot = np.zeros((40, 40), np.float32)
    dot[20, 20] = 1.0
    small = resample_to_spacing(dot, (0.05, 0.05), 0.2)  # 4x smaller: a 4 x 4 mean
    assert small.shape == (10, 10)
    assert small.max() == pytest.approx(1 / 16) and np.count_nonzero(small) == 1


def test_non_square_spacing_resamples_each_axis():
    from preprocessing.pipeline import resample_to_spacing

    image = np.ones((100, 100), np.float32)
    assert resample_to_spacing(image, (0.1, 0.05), 0.1).shape == (100, 50)


def test_spacing_is_in_the_key_and_the_paper_mode_keeps_its_old_key():
    import hashlib
    import json
    from dataclasses import asdict

    base = PreprocessConfig()
    old_fields = {k: v for k, v in asdict(base).items()
                  if k not in ("spacing_mm", "spacing_fallback_mm", "enhance", "tophat_mm")}
    old_key = hashlib.sha256(json.dumps(old_fields, sort_keys=True).encode()).hexdigest()[:16]
    assert base.key() == old_key, "existing stretch/pad caches stay valid"
    keys = {base.key(), PreprocessConfig(spacing_mm=0.1).key(),
            PreprocessConfig(spacing_mm=0.2).key(),
            PreprocessConfig(spacing_mm=0.1, spacing_fallback_mm=0.05).key()}
    assert len(keys) == 4
    assert PreprocessConfig(spacing_mm=0.1).resize_mode == "spacing 0.1 mm/px"
    assert base.resize_mode == "stretch"
    assert "0.1mm" in PreprocessConfig(spacing_mm=0.1).folder_name()


@pytest.mark.parametrize("kwargs", [dict(spacing_mm=0.0), dict(spacing_mm=-1.0),
                                    dict(spacing_fallback_mm=0.05),
                                    dict(spacing_mm=0.1, aspect="pad")])
def test_bad_spacing_configs_are_refused(kwargs: dict[str, object]):
    with pytest.raises(ValueError):
        PreprocessConfig(**kwargs)


def test_missing_spacing_is_refused_or_uses_the_fallback():
    from preprocessing.pipeline import MissingSpacing

    image = np.random.default_rng(0).normal(2000, 300, (80, 60)).astype(np.float32)
    with pytest.raises(MissingSpacing, match="--assume-spacing-mm"):
        process_roi(image, PreprocessConfig(size=32, spacing_mm=0.1))
    assumed = process_roi(image, PreprocessConfig(size=32, spacing_mm=0.1,
                                                  spacing_fallback_mm=0.05))
    given = process_roi(image, PreprocessConfig(size=32, spacing_mm=0.1), (0.05, 0.05))
    np.testing.assert_array_equal(assumed, given)
    # the file's own spacing wins over the fallback
    own = process_roi(image, PreprocessConfig(size=32, spacing_mm=0.1, spacing_fallback_mm=0.05),
                      (0.1, 0.1))
    assert not np.array_equal(own, given)


# --- white top-hat enhancement --------------------------------------------------------------

def test_tophat_is_in_the_key_only_when_chosen():
    base = PreprocessConfig()
    one, two = PreprocessConfig(enhance="tophat"), PreprocessConfig(enhance="tophat", tophat_mm=2)
    assert len({base.key(), one.key(), two.key()}) == 3
    assert PreprocessConfig(tophat_mm=2).key() == base.key(), "the radius means nothing without it"
    assert "tophat2mm" in two.folder_name() and "tophat" not in base.folder_name()


@pytest.mark.parametrize("kwargs", [dict(enhance="sharpen"), dict(tophat_mm=0.0)])
def test_bad_tophat_configs_are_refused(kwargs: dict[str, object]):
    with pytest.raises(ValueError, match=r"enhance|tophat_mm"):
        PreprocessConfig(**kwargs)


def test_tophat_keeps_a_small_bright_spot_and_drops_the_broad_background():
    from preprocessing.pipeline import white_tophat

    cols = np.mgrid[0:80, 0:80][1]
    background = (0.2 + 0.5 * cols / 80).astype(np.float32)  # a broad ramp, like tissue density
    image = background.copy()
    image[38:42, 38:42] += 0.3  # a 0.4 mm calcification at 0.1 mm/px
    out = white_tophat(image, radius_mm=1.0, pixel_spacing_mm=(0.1, 0.1))
    assert out[39, 39] == pytest.approx(0.3, abs=0.02)
    elsewhere = np.ones(out.shape, bool)
    elsewhere[38:42, 38:42] = False
    elsewhere[:, 70:] = False  # the image border is not surrounded by anything
    assert np.abs(out[elsewhere]).max() < 0.02
    wide = white_tophat(image, radius_mm=0.1, pixel_spacing_mm=(0.1, 0.1))
    assert wide[39, 39] < 0.05, "a disk narrower than the spot removes the spot too"


def test_process_roi_with_tophat_darkens_the_background():
    image = np.tile(np.linspace(1000, 2000, 60, dtype=np.float32), (60, 1))
    image[28:32, 28:32] += 1500.0
    plain = process_roi(image, PreprocessConfig(size=60, filter="none", artifacts=False))
    hat = process_roi(image, PreprocessConfig(size=60, filter="none", artifacts=False,
                                              enhance="tophat"), (0.1, 0.1))
    assert plain[30, 45] > 20000 and hat[30, 45] < 1000, "the ramp is gone"
    assert hat[30, 30] == hat.max() > 40000, "the spot stays, above its local background"
