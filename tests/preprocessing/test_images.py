import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pydicom
import pytest
from pydicom.uid import RLELossless

from preprocessing import input_checks
from preprocessing.images import (
    DEFAULT_MAX_PIXEL_BYTES,
    MAX_PIXEL_BYTES_ENV,
    UnreadableImage,
    decode_bytes,
    max_pixel_bytes,
    normalise,
    read_image,
)
from preprocessing.input_checks import decode_for_prediction
from tests.conftest import REPO_ROOT, write_dicom

RAMP = (np.arange(64 * 48).reshape(64, 48) % 4096).astype(np.uint16)


def test_monochrome2_keeps_full_bit_depth(tmp_path: Path):
    image = read_image(write_dicom(tmp_path / "a.dcm", RAMP))
    assert image.dtype == np.float32
    np.testing.assert_array_equal(image, RAMP.astype(np.float32))
    assert np.unique(image).size > 256, "must not be squeezed to 8 bits"


def test_monochrome1_is_inverted(tmp_path: Path):
    plain = read_image(write_dicom(tmp_path / "a.dcm", RAMP))
    inverted = read_image(write_dicom(tmp_path / "b.dcm", 4095 - RAMP, "MONOCHROME1"))
    assert np.corrcoef(plain.ravel(), inverted.ravel())[0, 1] > 0.999


def test_modality_lut_is_applied(tmp_path: Path):
    image = read_image(write_dicom(tmp_path / "a.dcm", RAMP, RescaleSlope=2,
                                   RescaleIntercept=-100, RescaleType="US"))
    np.testing.assert_allclose(image, RAMP * 2.0 - 100)


def test_voi_window_is_applied(tmp_path: Path):
    image = read_image(write_dicom(tmp_path / "a.dcm", RAMP, WindowCenter=1000,
                                   WindowWidth=200))
    below, above = image[RAMP < 850], image[RAMP > 1150]
    assert below.max() == image.min() and above.min() == image.max()


@pytest.mark.parametrize("suffix", [".png", ".pgm", ".jpg"])
def test_raster_formats(tmp_path: Path, suffix: str):
    pixels = (RAMP // 16).astype(np.uint8)
    cv2.imwrite(str(tmp_path / f"a{suffix}"), pixels)
    image = read_image(tmp_path / f"a{suffix}")
    assert image.shape == pixels.shape
    assert abs(float(image.mean()) - float(pixels.mean())) < 2


def test_sixteen_bit_png_keeps_depth(tmp_path: Path):
    cv2.imwrite(str(tmp_path / "a.png"), RAMP * 16)
    assert read_image(tmp_path / "a.png").max() == RAMP.max() * 16


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p: p.write_text("not an image"), "not a DICOM"),
        (lambda p: write_dicom(p, np.full((8, 8), 7)), "blank"),
        (lambda p: None, "cannot read"),
    ],
)
def test_bad_files_name_their_reason(tmp_path: Path, make, reason: str):
    path = tmp_path / "bad.dcm"
    make(path)
    with pytest.raises(UnreadableImage, match=reason):
        read_image(path)


def test_truncated_dicom_is_refused(tmp_path: Path):
    path = write_dicom(tmp_path / "a.dcm", RAMP)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - RAMP.nbytes // 2])
    with pytest.raises(UnreadableImage, match=r"truncated|unreadable"):
        read_image(path)


def test_normalise_to_unit_range():
    unit = normalise(RAMP.astype(np.float32))
    assert unit.min() == 0.0 and unit.max() == 1.0


@pytest.mark.parametrize(("tags", "expected"), [
    ({"PixelSpacing": [0.05, 0.05]}, (0.05, 0.05)),
    ({"PixelSpacing": [0.1, 0.05]}, (0.1, 0.05)),
    ({"ImagerPixelSpacing": [0.07, 0.07]}, (0.07, 0.07)),
    ({"PixelSpacing": [0.05, 0.05], "ImagerPixelSpacing": [0.07, 0.07]}, (0.05, 0.05)),
    ({}, None),
])
def test_dicom_pixel_spacing_is_read(tmp_path: Path, tags: dict[str, object],
                                     expected: tuple[float, float] | None):
    from preprocessing.images import decode_with_spacing

    path = write_dicom(tmp_path / "a.dcm", RAMP, **tags)
    image, spacing = decode_with_spacing(path.read_bytes(), str(path))
    assert image.shape == RAMP.shape
    assert spacing == (pytest.approx(expected) if expected else None)


def test_raster_files_have_no_spacing(tmp_path: Path):
    from preprocessing.images import decode_with_spacing

    cv2.imwrite(str(tmp_path / "a.png"), RAMP)
    assert decode_with_spacing((tmp_path / "a.png").read_bytes(), "a.png")[1] is None


def test_a_jpeg_cut_short_is_refused_as_truncated(tmp_path: Path):
    noisy = np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)
    ok, encoded = cv2.imencode(".jpg", noisy)
    assert ok
    cut = encoded.tobytes()[: encoded.size * 2 // 3]
    (tmp_path / "cut.jpg").write_bytes(cut)
    with pytest.raises(UnreadableImage, match="truncated JPEG"):
        read_image(tmp_path / "cut.jpg")
    (tmp_path / "whole.jpg").write_bytes(encoded.tobytes() + b"\0\0")  # padding after the end
    assert read_image(tmp_path / "whole.jpg").shape == (64, 64)


def test_the_encoding_says_bits_and_loss(tmp_path: Path):
    from pydicom.uid import JPEGLSLossless

    from preprocessing.images import decode_source

    def encoding(path: Path) -> str:
        return decode_source(path.read_bytes(), path.name).encoding

    cv2.imwrite(str(tmp_path / "a.jpg"), (RAMP // 16).astype(np.uint8))
    cv2.imwrite(str(tmp_path / "a.png"), RAMP * 16)
    (tmp_path / "jpeg_named.png").write_bytes((tmp_path / "a.jpg").read_bytes())
    assert encoding(tmp_path / "a.jpg") == "8-bit lossy JPEG"
    assert encoding(tmp_path / "jpeg_named.png") == "8-bit lossy JPEG", "content, not name"
    assert encoding(tmp_path / "a.png") == "16-bit lossless PNG"
    assert encoding(write_dicom(tmp_path / "a.dcm", RAMP)) == "12-bit lossless DICOM"
    marked = write_dicom(tmp_path / "b.dcm", RAMP, LossyImageCompression="01")
    assert encoding(marked) == "12-bit lossy DICOM"
    import pydicom

    ds = pydicom.dcmread(tmp_path / "a.dcm")
    ds.compress(JPEGLSLossless)
    ds.save_as(tmp_path / "c.dcm")
    assert encoding(tmp_path / "c.dcm") == "12-bit lossless DICOM"


def rle_claiming(path: Path, rows: int, cols: int) -> Path:
    """An RLE Lossless DICOM of a few KB whose header claims rows x cols pixels."""
    ds = pydicom.dcmread(write_dicom(path, RAMP))
    ds.compress(RLELossless)
    ds.Rows, ds.Columns = rows, cols
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.fixture
def huge_rle(tmp_path: Path) -> Path:
    return rle_claiming(tmp_path / "huge.dcm", 60_000, 60_000)  # 6.7 GiB at 16 bits


def test_a_compressed_header_over_the_ceiling_is_refused_before_decoding(
        huge_rle: Path, monkeypatch: pytest.MonkeyPatch):
    decoded: list[str] = []
    monkeypatch.setattr(pydicom.Dataset, "pixel_array",
                        property(lambda ds: decoded.append("pixel_array")))
    monkeypatch.setattr(input_checks, "pixel_array", lambda *a, **k: decoded.append("frame"))
    assert huge_rle.stat().st_size < 20_000
    data = huge_rle.read_bytes()
    for decode in (decode_bytes, decode_for_prediction):
        with pytest.raises(UnreadableImage, match=r"header asks for 60000 x 60000 px \(6\.7 GiB"):
            decode(data, "huge.dcm")
    assert decoded == []


def test_the_refusal_holds_under_a_memory_limit(huge_rle: Path):
    """In a process that cannot map 4 GB the refusal comes first, not a MemoryError."""
    script = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (4 * 2**30, 4 * 2**30))\n"
        "from preprocessing.images import UnreadableImage, read_image\n"
        "try:\n    read_image(sys.argv[1])\n"
        "except UnreadableImage as exc:\n    print(exc)\n"
    )
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run([sys.executable, "-c", script, str(huge_rle)], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("header asks for 60000 x 60000 px"), done.stdout


def test_the_ceiling_is_set_by_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = write_dicom(tmp_path / "a.dcm", RAMP)  # 64 x 48 x 2 = 6,144 bytes
    monkeypatch.setenv(MAX_PIXEL_BYTES_ENV, "6144")
    assert read_image(path).shape == RAMP.shape
    monkeypatch.setenv(MAX_PIXEL_BYTES_ENV, "6143")
    with pytest.raises(UnreadableImage, match=r"6,144 bytes of pixel data.*ceiling of 6,143"):
        read_image(path)
    monkeypatch.delenv(MAX_PIXEL_BYTES_ENV)
    assert max_pixel_bytes() == DEFAULT_MAX_PIXEL_BYTES == 8_000 * 8_000 * 2
    film = rle_claiming(tmp_path / "film.dcm", 5_000, 4_000)  # a large film's header passes,
    with pytest.raises(UnreadableImage, match="unreadable DICOM") as refused:  # then its few
        read_image(film)  # bytes of RLE fail to decode
    assert "ceiling" not in str(refused.value)
    monkeypatch.setenv(MAX_PIXEL_BYTES_ENV, "lots")
    with pytest.raises(ValueError, match="MCAL_MAX_PIXEL_BYTES must be a positive whole"):
        max_pixel_bytes()
