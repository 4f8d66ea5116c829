"""Every 2-D grayscale file of the installed pydicom's test corpus, through mcal's reader.

The files come from pydicom.data (the installed wheel), never copies in this repository. The
names are listed from the wheel's test_files folder and each is found by get_testdata_file with
download=False: get_testdata_files would also try to download pydicom-data's whole collection.
"""

from __future__ import annotations

import importlib.util
import io
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import DATA_ROOT, get_testdata_file
from pydicom.uid import JPEG2000, JPEGLSNearLossless

from preprocessing.images import UnreadableImage, decode_bytes, decode_failure, read_image

# Broken on purpose in the corpus (its README says so): each must be refused, with a reason.
BROKEN = {
    "JPEG-lossy.dcm": "unreadable DICOM",  # bad SOS parameters; JPGExtended.dcm is its fixed copy
    "JPEG2000-embedded-sequence-delimiter.dcm": "unreadable DICOM",  # a delimiter in the codestream
    "MR_truncated.dcm": "truncated pixel data",
}
# Lossless twins: the same pixels under another transfer syntax or byte order.
TWINS = {
    "MR_small.dcm": ("MR_small_RLE.dcm", "MR_small_bigendian.dcm", "MR_small_expb.dcm",
                     "MR_small_implicit.dcm", "MR_small_jp2klossless.dcm",
                     "MR_small_jpeg_ls_lossless.dcm", "MR_small_padded.dcm"),
    "rtdose_1frame.dcm": ("rtdose_expb_1frame.dcm", "rtdose_rle_1frame.dcm"),
    "liver_1frame.dcm": ("liver_expb_1frame.dcm",),
}
# Decoded only by the GPL-3.0 extra (pip install 'mcal[libjpeg]'): 12-bit JPEG Extended.
NEEDS_LIBJPEG = {"JPGExtended.dcm"}
HAS_LIBJPEG = importlib.util.find_spec("libjpeg") is not None


def corpus_file(name: str) -> Path:
    path = get_testdata_file(name, download=False)
    assert path is not None, f"{name} is not in the installed pydicom's corpus"
    return Path(path)


def is_grayscale_2d(path: Path) -> bool:
    """An image header with one sample per pixel, one frame and a MONOCHROME interpretation."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, stop_before_pixels=True)
    except Exception:
        return False  # not a DICOM file (DICOMDIR pieces)
    frames = str(ds.get("NumberOfFrames", 1) or 1)
    return ("Rows" in ds and str(ds.get("SamplesPerPixel", 1)) == "1" and frames == "1"
            and str(ds.get("PhotometricInterpretation", "")).startswith("MONOCHROME"))


WHEEL_NAMES = sorted(p.name for p in Path(DATA_ROOT, "test_files").glob("*.dcm"))
GRAYSCALE = [name for name in WHEEL_NAMES if is_grayscale_2d(corpus_file(name))]


def test_the_corpus_is_the_one_these_tests_name():
    assert len(GRAYSCALE) >= 25
    named = set(BROKEN) | set(TWINS) | {t for twins in TWINS.values() for t in twins}
    assert named <= set(GRAYSCALE)


@pytest.mark.parametrize("name", GRAYSCALE)
def test_every_grayscale_file_decodes_or_names_its_reason(name: str):
    path = corpus_file(name)
    if name in BROKEN:
        with pytest.raises(UnreadableImage, match=BROKEN[name]):
            read_image(path)
        return
    if name in NEEDS_LIBJPEG and not HAS_LIBJPEG:
        with pytest.raises(UnreadableImage, match="mcal\\[libjpeg\\]"):
            read_image(path)
        pytest.skip("12-bit JPEG Extended needs the libjpeg extra")
    header = pydicom.dcmread(path, stop_before_pixels=True)
    image = read_image(path)
    assert image.shape == (int(header.Rows), int(header.Columns))
    assert image.dtype == np.float32 and np.isfinite(image).all()


@pytest.mark.parametrize(("original", "twin"),
                         [(o, t) for o, twins in TWINS.items() for t in twins])
def test_lossless_twins_decode_to_the_same_pixels(original: str, twin: str):
    np.testing.assert_array_equal(read_image(corpus_file(twin)),
                                  read_image(corpus_file(original)))


@pytest.mark.skipif(not HAS_LIBJPEG, reason="12-bit JPEG Extended needs the libjpeg extra")
def test_two_lossy_encodings_of_one_image_agree_within_their_loss():
    """JPGExtended (12-bit JPEG) and JPEG2000 (irreversible, 2097:1) hold the same NM image."""
    jpeg = read_image(corpus_file("JPGExtended.dcm"))
    j2k = read_image(corpus_file("JPEG2000.dcm"))
    rms = float(np.sqrt(np.mean((jpeg - j2k) ** 2)))
    assert rms < 0.05 * float(jpeg.max() - jpeg.min())
    assert np.corrcoef(jpeg.ravel(), j2k.ravel())[0, 1] > 0.9


def unwindowed(syntax: str | None = None, **options: object) -> np.ndarray:
    """MR_small without its VOI window (mcal's values are then the stored ones), re-encoded in
    memory by pydicom's own encoders when syntax is given, decoded by mcal's reader."""
    ds = pydicom.dcmread(corpus_file("MR_small.dcm"))
    del ds.WindowCenter, ds.WindowWidth
    if syntax is not None:
        ds.compress(syntax, **options)
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return decode_bytes(buffer.getvalue(), "a.dcm")


@pytest.mark.parametrize("near", [1, 3, 8])
def test_jpeg_ls_near_lossless_stays_within_its_bound(near: int):
    error = np.abs(unwindowed(JPEGLSNearLossless, jls_error=near) - unwindowed())
    assert 0 < error.max() <= near


def test_lossy_jpeg_2000_reaches_its_psnr():
    """OpenJPEG's PSNR target is against the stored bits' full range (16 bits for MR_small)."""
    original = unwindowed()
    lossy = unwindowed(JPEG2000, j2k_psnr=[80])
    psnr = 10 * np.log10((2**16 - 1) ** 2 / float(np.mean((lossy - original) ** 2)))
    assert 79 < psnr < 100


def test_a_missing_decoder_names_the_extra_that_adds_it():
    exc = RuntimeError("Unable to decompress 'JPEG Extended' pixel data because all plugins are "
                       "missing dependencies:\n    pylibjpeg - requires pylibjpeg-libjpeg>=2.1")
    reason = str(decode_failure(exc))
    assert "\n" not in reason and "mcal[libjpeg]" in reason
