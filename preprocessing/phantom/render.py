"""Render one patient: its full-field images, ROI masks and crops as DICOM, plus its CSV rows.

Each crop also gets its calcification-only signal (calc_signals): what the calcifications of
every lesion added to the tissue in that crop's frame, in 12-bit units before noise and
quantisation, so crop - signal is the crop's tissue-only image (same noise, same presentation;
except where the film label or scanner edge, drawn later, overwrote calcifications, and where
the 12-bit range clipped). Keeping it draws nothing from the random stream and changes no
written pixel.

Every pixel is drawn the same way whatever is written: full_images only decides whether the
full-field image is stored at full size ("full"), block-averaged by an integer factor
("reduced") or not at all ("none"), and layout whether each image is a TCIA DICOM ("tcia") or
an 8-bit JPEG of the Kaggle edition with its dicom_info.csv row ("kaggle-jpeg"); the random
stream, the CSV rows and the modality values of masks and crops do not change. When the
full-field image is not written it is not rendered either: each crop renders its own window,
pixel for pixel what the full image holds there (scene.ViewScene).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from preprocessing.phantom import anatomy
from preprocessing.phantom.calcs import Lesion3D, make_lesion
from preprocessing.phantom.cases import (
    BreastPlan,
    LesionPlan,
    PatientPlan,
    RoiFiles,
    case_folder,
    csv_row,
    truth_row,
)
from preprocessing.phantom.constants import (
    FULL_IMAGE_SHAPE,
    MAX_PIXEL_VALUE,
    MLO_ANGLE_DEG,
    P_SWAPPED_CROP_MASK,
    PIXELS_PER_MM,
)
from preprocessing.phantom.dicom_writer import (
    DicomHeader,
    Presentation,
    deterministic_uid,
    draw_presentation,
    stored_values,
    write_mg_dicom,
)
from preprocessing.phantom.draw import render_lesion
from preprocessing.phantom.kaggle_writer import (
    KAGGLE_LAYOUT,
    LAYOUTS,
    TCIA_LAYOUT,
    write_kaggle_image,
)
from preprocessing.phantom.noise import NoiseField
from preprocessing.phantom.scene import AddedSignal, ViewScene, paste

MIN_SIDE_PX = 64
FULL_IMAGE_MODES = ("full", "reduced", "none")
DEFAULT_REDUCTION = 4
# Peak calcification contrast (in 12-bit units) by subtlety 1 (faintest) to 5.
CONTRAST_BY_SUBTLETY = {1: 180.0, 2: 300.0, 3: 450.0, 4: 650.0, 5: 900.0}


@dataclass
class PatientOutput:
    """What a worker hands back: CSV rows by split, sidecar rows, the files of each ROI."""

    csv_rows: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    truth_rows: list[dict[str, str]] = field(default_factory=list)
    roi_files: list[RoiFiles] = field(default_factory=list)
    # (roi_id, calcification-only signal in the crop's frame, uint16 12-bit units) per ROI
    calc_signals: list[tuple[str, np.ndarray]] = field(default_factory=list)
    dicom_info_rows: list[dict[str, str]] = field(default_factory=list)  # kaggle-jpeg only
    written: dict[str, str] = field(default_factory=dict)  # kaggle-jpeg: TCIA path -> JPEG path

    def file_of(self, rel: str) -> str:
        """Where the file the CSV names as rel was written (itself in the TCIA layout)."""
        return self.written.get(rel, rel)


@dataclass(frozen=True)
class _Context:
    out_dir: Path
    seed: int
    scale: float
    plan: PatientPlan
    lesions3d: dict[str, Lesion3D]
    full_images: str = "full"
    reduction: int = DEFAULT_REDUCTION
    layout: str = TCIA_LAYOUT

    @property
    def pixel_spacing_mm(self) -> float:
        """Size of one full-resolution pixel: lesions are drawn at PIXELS_PER_MM * scale."""
        return 1.0 / (PIXELS_PER_MM * self.scale)


def image_shape(rng: np.random.Generator, scale: float) -> tuple[int, int]:
    """Full-field size: about 4000 x 2600 at scale 1, varying by +-8%, never under 64 px."""
    rows, cols = (max(MIN_SIDE_PX, round(n * scale * rng.uniform(0.92, 1.08)))
                  for n in FULL_IMAGE_SHAPE)
    return rows, cols


def _uids(ctx: _Context, folder: str) -> tuple[str, str]:
    seed = str(ctx.seed)
    return deterministic_uid(seed, folder, "study"), deterministic_uid(seed, folder, "series")


def _write(ctx: _Context, output: PatientOutput, rel: str, values: np.ndarray,
           header: DicomHeader, presentation: Presentation, reduction: int = 1,
           rle: bool = False, series_size: int = 1) -> None:
    """One image: a DICOM at rel (TCIA), or a JPEG plus its dicom_info row (Kaggle edition)."""
    if ctx.layout == KAGGLE_LAYOUT:
        jpeg, info = write_kaggle_image(ctx.out_dir, values, header, series_size)
        output.written[rel] = jpeg
        output.dicom_info_rows.append(info)
        return
    write_mg_dicom(ctx.out_dir / rel, stored_values(values, presentation), header, presentation,
                   pixel_spacing_mm=ctx.pixel_spacing_mm * reduction, rle=rle)


def reduce_image(values: np.ndarray, factor: int,
                 avoid_shapes: tuple[tuple[int, int], ...] = ()) -> np.ndarray:
    """The mean of each factor x factor block, rounded to the nearest integer (uint16).

    The last rows and columns that do not fill a block are dropped, so pixel (i, j) covers
    exactly rows i*factor.. and columns j*factor.. of values and its spacing is exactly factor
    times the original's. One more bottom row goes while the shape equals one of avoid_shapes:
    readers tell a crop from its mask by the full image's shape, which no crop may share.
    """
    rows, cols = values.shape[0] // factor, values.shape[1] // factor
    while (rows, cols) in avoid_shapes and rows > 1:
        rows -= 1
    blocks = np.ascontiguousarray(values[: rows * factor, : cols * factor])
    return cv2.resize(blocks, (cols, rows), interpolation=cv2.INTER_AREA)  # block means


def _header(ctx: _Context, side: str, view: str, folder: str, instance: int,
            description: str) -> DicomHeader:
    study, series = _uids(ctx, folder)
    sop = deterministic_uid(str(ctx.seed), folder, f"instance{instance}")
    return DicomHeader(ctx.plan.patient_id, side, view, study, series, sop, description,
                       instance + 1)


def roi_mask(shape: tuple[int, int], points: np.ndarray, margin_px: float) -> np.ndarray:
    """Filled convex hull of the calcifications grown by margin_px: uint8 0/1, full-image frame."""
    inside = np.clip(np.round(points), 0, np.array(shape) - 1).astype(np.int32)  # edge lesions
    pad = int(np.ceil(margin_px)) + 1
    (r0, c0), (r1, c1) = np.maximum(inside.min(axis=0) - pad, 0), inside.max(axis=0) + pad + 1
    hull = np.zeros((r1 - r0, c1 - c0), np.uint8)
    cv2.fillConvexPoly(hull, cv2.convexHull((inside - [r0, c0])[:, ::-1].copy()), 1)
    distance = cv2.distanceTransform((1 - hull) * 255, cv2.DIST_L2, 5)
    mask = np.zeros(shape, np.uint8)
    grown = (distance <= margin_px).astype(np.uint8)
    mask[r0:r1, c0:c1] = grown[: shape[0] - r0, : shape[1] - c0]
    return mask


def crop_box(mask: np.ndarray, margin_frac: float) -> tuple[slice, slice]:
    """The mask's bounding box plus a margin, clipped, and never the whole image."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    pad = max(2, round(margin_frac * max(np.ptp(rows), np.ptp(cols))))
    r0, r1 = max(rows.min() - pad, 0), min(rows.max() + pad + 1, mask.shape[0])
    c0, c1 = max(cols.min() - pad, 0), min(cols.max() + pad + 1, mask.shape[1])
    if (r1 - r0, c1 - c0) == mask.shape:  # the crop must stay smaller than the full image
        r1 -= 1
    return slice(int(r0), int(r1)), slice(int(c0), int(c1))


def calc_signal_in(added: tuple[AddedSignal, ...], rows: slice, cols: slice) -> np.ndarray:
    """The calcification-only signal of every lesion in the frame rows x cols (uint16)."""
    frame = np.zeros((rows.stop - rows.start, cols.stop - cols.start), np.float32)
    for patch in added:
        paste(frame, patch.signal, patch.top - rows.start, patch.left - cols.start)
    return np.clip(np.rint(frame), 0, MAX_PIXEL_VALUE).astype(np.uint16)


def _draw_lesion(ctx: _Context, geom: anatomy.BreastGeometry, view: str, lesion: LesionPlan,
                 rng: np.random.Generator) -> tuple[np.ndarray, AddedSignal]:
    """One lesion's calcifications: its ROI mask, and the signal it adds to the image."""
    px_per_mm = PIXELS_PER_MM * ctx.scale
    lesion3d = ctx.lesions3d[lesion.lesion_id]
    depth_sign = 1.0 if geom.chest_wall_left else -1.0
    patch = render_lesion(lesion3d, view, px_per_mm, depth_sign, MLO_ANGLE_DEG)
    row, col = (round(v) for v in geom.pixel_of(lesion.depth_frac,
                                                 lesion.vertical_frac(view, MLO_ANGLE_DEG)))
    contrast = CONTRAST_BY_SUBTLETY[lesion.subtlety] * rng.uniform(0.85, 1.15)
    added = AddedSignal(patch.signal * np.float32(contrast), row + patch.top, col + patch.left)
    max_size_mm = max(c.size for c in lesion3d.calcs)
    margin = max(2.0, (1.0 + 0.5 * max_size_mm) * px_per_mm)
    return roi_mask((geom.rows, geom.cols), patch.points + np.array([row, col]), margin), added


def _write_full_image(ctx: _Context, output: PatientOutput, rel: str, values: np.ndarray | None,
                      header: DicomHeader, presentation: Presentation,
                      crop_shapes: list[tuple[int, int]]) -> None:
    if ctx.full_images == "none" or values is None:
        return
    if ctx.full_images == "full":
        _write(ctx, output, rel, values, header, presentation)
    elif ctx.full_images == "reduced":
        reduced = reduce_image(values, ctx.reduction, tuple(crop_shapes))
        _write(ctx, output, rel, reduced, header, presentation, reduction=ctx.reduction)
    else:
        raise ValueError(f"full_images must be one of {FULL_IMAGE_MODES}, got {ctx.full_images!r}")


def render_view(ctx: _Context, rng: np.random.Generator, breast: BreastPlan, view: str,
                output: PatientOutput) -> None:
    """One full-field image with all its lesions, then one mask + crop per lesion.

    The full-field image is rendered only when written; otherwise each crop renders its own
    window of it, the very same pixels.
    """
    plan, side = ctx.plan, breast.side
    geom = anatomy.draw_geometry(rng, image_shape(rng, ctx.scale), side == "LEFT", view)
    tissue = anatomy.draw_tissue(rng, geom, plan.density, view)
    shown = breast.lesions_in(view)
    drawn = [_draw_lesion(ctx, geom, view, lesion, rng) for _, lesion in shown]
    masks, added = [mask for mask, _ in drawn], tuple(a for _, a in drawn)
    overlays = (anatomy.draw_label_block(rng, geom, f"{side[0]} {view}"),
                anatomy.draw_scanner_edge(rng, geom))
    scene = ViewScene(tissue, added, overlays, NoiseField.draw(rng))
    values = scene.full_image() if ctx.full_images != "none" else None
    full_folder = case_folder(plan.split, plan.patient_id, side, view)
    full_rel = "/".join([full_folder, *_uids(ctx, full_folder), "000000.dcm"])
    full_header = _header(ctx, side, view, full_folder, 0, "full mammogram images")
    full_presentation = draw_presentation(rng)  # drawn even when not written: same stream
    crop_shapes = []
    for (abnormality_id, lesion), mask in zip(shown, masks, strict=True):
        folder = case_folder(plan.split, plan.patient_id, side, view, abnormality_id)
        base = "/".join([folder, *_uids(ctx, folder)])
        files = RoiFiles(full_rel, f"{base}/000001.dcm", f"{base}/000000.dcm")
        _write(ctx, output, files.mask, np.multiply(mask, 255, dtype=np.uint16),
               _header(ctx, side, view, folder, 0, "ROI mask images"), Presentation(), rle=True,
               series_size=2)
        rows, cols = crop_box(mask, rng.uniform(0.05, 0.15))
        crop = scene.pixels(rows, cols) if values is None else values[rows, cols]
        crop_shapes.append(crop.shape)
        _write(ctx, output, files.crop, crop,
               _header(ctx, side, view, folder, 1, "cropped images"), draw_presentation(rng),
               series_size=2)
        swapped = bool(rng.random() < P_SWAPPED_CROP_MASK)
        output.csv_rows.append((plan.split, csv_row(plan, side, view, abnormality_id, lesion,
                                                    files, swapped)))
        output.truth_rows.append(truth_row(plan, side, view, abnormality_id, lesion))
        output.calc_signals.append((output.truth_rows[-1]["roi_id"],
                                    calc_signal_in(added, rows, cols)))
        output.roi_files.append(files)
    _write_full_image(ctx, output, full_rel, values, full_header, full_presentation,
                      crop_shapes)


def render_patient(out_dir: Path, seed: int, scale: float, plan: PatientPlan,
                   rng: np.random.Generator, full_images: str = "full",
                   reduction: int = DEFAULT_REDUCTION,
                   layout: str = TCIA_LAYOUT) -> PatientOutput:
    """Write every file of one patient; the same lesion is drawn in 3-D once for both views."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    lesions3d = {lesion.lesion_id: make_lesion(rng, lesion.calc_type, lesion.distribution)
                 for breast in plan.breasts for lesion in breast.lesions}
    ctx = _Context(out_dir, seed, scale, plan, lesions3d, full_images, reduction, layout)
    output = PatientOutput()
    for breast in plan.breasts:
        for view in ("CC", "MLO"):
            if breast.lesions_in(view):
                render_view(ctx, rng, breast, view, output)
    return output
