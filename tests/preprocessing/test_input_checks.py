"""input_checks: prediction's decoding (colour to gray, first frame) and its warnings."""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from preprocessing.images import UnreadableImage, decode_bytes
from preprocessing.input_checks import (
    Decoded,
    decode_dicom,
    decode_for_prediction,
    decode_raster,
    dicom_pixels,
    header_warnings,
    luminance,
    reference_warnings,
)
from tests.conftest import write_dicom

ROI = np.random.default_rng(0).integers(0, 4096, (24, 32)).astype(np.uint16)
REFERENCE = {"pixel_spacing_mm": 0.05, "short_side_px_p05": 40.0}


def dataset(path: Path) -> pydicom.Dataset:
    return pydicom.dcmread(path)


def multi_frame(path: Path, frames: np.ndarray) -> Path:
    """An MG DICOM holding frames (n, rows, cols) of 16-bit gray."""
    ds = dataset(write_dicom(path, frames[0]))
    ds.NumberOfFrames = len(frames)
    ds.PixelData = frames.astype(np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def rgb_dicom(path: Path, rgb: np.ndarray, photometric: str = "RGB") -> Path:
    ds = dataset(write_dicom(path, rgb[..., 0]))
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, photometric, 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.PixelData = rgb.astype(np.uint8).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def corpus(name: str) -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Path(get_testdata_file(name, download=False)).read_bytes()


def png(image: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", image)
    assert ok
    return encoded.tobytes()


RGB = np.random.default_rng(1).integers(0, 256, (20, 24, 3)).astype(np.uint8)


def test_luminance_uses_the_bt601_weights():
    primaries = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255]]], np.uint8)
    np.testing.assert_allclose(luminance(primaries)[0], [0.299 * 255, 0.587 * 255, 0.114 * 255],
                               rtol=1e-3)
    assert luminance(primaries).dtype == np.float32


@pytest.mark.parametrize(("tags", "expected"), [
    ({"Modality": "MG"}, []),
    ({"Modality": ""}, []),
    ({"Modality": "MR"}, ["Modality MR, not MG (mammography)"]),
    ({"Modality": "MG", "NumberOfFrames": 3}, ["multi-frame (3 frames): only the first was read"]),
])
def test_header_warnings_name_the_modality_and_the_frames(tags: dict, expected: list[str]):
    ds = pydicom.Dataset()
    for name, value in tags.items():
        setattr(ds, name, value)
    assert header_warnings(ds) == expected


def test_one_gray_frame_is_read_as_training_reads_it(tmp_path: Path):
    path = write_dicom(tmp_path / "mg.dcm", ROI, PixelSpacing=[0.05, 0.05])
    image, colour = dicom_pixels(dataset(path))
    assert colour is None
    np.testing.assert_array_equal(image, decode_bytes(path.read_bytes(), "mg.dcm"))


def test_a_multi_frame_file_gives_its_first_frame_and_says_so(tmp_path: Path):
    frames = np.stack([ROI, 4095 - ROI])
    data = multi_frame(tmp_path / "two.dcm", frames).read_bytes()
    decoded = decode_dicom(data)
    np.testing.assert_array_equal(decoded.image, ROI.astype(np.float32))
    assert decoded.warnings == ("multi-frame (2 frames): only the first was read",)


def test_colour_becomes_its_luminance_with_a_note(tmp_path: Path):
    data = rgb_dicom(tmp_path / "rgb.dcm", RGB).read_bytes()
    decoded = decode_dicom(data)
    np.testing.assert_allclose(decoded.image, luminance(RGB), atol=1e-4)
    assert decoded.warnings == ("colour (RGB) converted to gray by luminance",)


def test_palette_colour_is_looked_up_then_made_gray():
    decoded = decode_dicom(corpus("examples_palette.dcm"))
    assert decoded.image.ndim == 2 and decoded.image.dtype == np.float32
    assert decoded.warnings == ("Modality US, not MG (mammography)",
                                "palette colour converted to gray by luminance")


def test_an_unknown_photometric_interpretation_is_refused(tmp_path: Path):
    data = rgb_dicom(tmp_path / "hsv.dcm", RGB, photometric="HSV").read_bytes()
    with pytest.raises(UnreadableImage, match="'HSV' is not supported"):
        decode_dicom(data)


def test_a_broken_dicom_is_refused_with_pydicoms_reason(tmp_path: Path):
    data = write_dicom(tmp_path / "mg.dcm", ROI).read_bytes()
    with pytest.raises(UnreadableImage, match="truncated pixel data"):
        decode_dicom(data[:-100])


def test_decode_dicom_keeps_the_spacing(tmp_path: Path):
    data = write_dicom(tmp_path / "mg.dcm", ROI, PixelSpacing=[0.07, 0.08]).read_bytes()
    decoded = decode_dicom(data)
    assert decoded.spacing == (0.07, 0.08) and decoded.warnings == ()


def test_raster_colour_is_noted_only_when_the_channels_differ():
    gray = RGB[..., 0]
    assert decode_raster(png(gray), "g.png").warnings == ()
    assert decode_raster(png(cv2.merge([gray] * 3)), "g3.png").warnings == ()  # gray saved as RGB
    colour = decode_raster(png(RGB), "c.png")
    assert colour.warnings == ("colour (RGB) converted to gray by luminance",)
    np.testing.assert_allclose(colour.image, cv2.cvtColor(RGB, cv2.COLOR_BGR2GRAY))
    assert colour.spacing is None


def test_undecodable_raster_bytes_are_refused():
    with pytest.raises(UnreadableImage, match=r"not a decodable \.png file"):
        decode_raster(b"not an image", "x.png")


def test_decode_for_prediction_picks_the_decoder_by_content_or_name(tmp_path: Path):
    dicom = write_dicom(tmp_path / "mg.dcm", ROI).read_bytes()
    assert decode_for_prediction(dicom).image.shape == ROI.shape  # no name: the preamble says
    assert decode_for_prediction(png(RGB), "c.png").warnings != ()
    with pytest.raises(UnreadableImage, match="no DICM preamble"):
        decode_for_prediction(png(RGB), "named.dcm")


def decoded(shape: tuple[int, int], spacing: float | None) -> Decoded:
    image = np.zeros(shape, np.float32)
    return Decoded(image, None if spacing is None else (spacing, spacing), ())


@pytest.mark.parametrize(("spacing", "warned"), [(0.05, False), (0.09, False), (0.11, True),
                                                 (0.02, True), (None, False)])
def test_spacing_more_than_twice_off_is_warned(spacing: float | None, warned: bool):
    notes = reference_warnings(decoded((48, 48), spacing), REFERENCE)
    assert bool(notes) == warned
    if warned:
        assert notes == [f"pixel spacing {spacing:.3g} mm, the training images' 0.05 mm"]


@pytest.mark.parametrize(("side", "warned"), [(19, True), (20, False), (64, False)])
def test_an_image_under_half_the_training_rois_short_side_is_warned(side: int, warned: bool):
    notes = reference_warnings(decoded((side, 80), None), REFERENCE)
    assert bool(notes) == warned
    if warned:
        assert notes[0].startswith(f"image {side}x80 px, much smaller than the training ROIs")


def test_without_reference_stats_nothing_is_compared():
    assert reference_warnings(decoded((4, 4), 5.0), {}) == []
