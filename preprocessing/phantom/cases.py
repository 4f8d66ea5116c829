"""Drawing patients, lesions and labels; TCIA folder names; official CSV rows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from preprocessing.phantom import constants as C

K = TypeVar("K")
SPLIT_PREFIX = {"train": "Calc-Training", "test": "Calc-Test"}


@dataclass(frozen=True)
class LesionPlan:
    """Everything about one lesion that does not depend on the view."""

    lesion_id: str  # shared by the CC and MLO ROI of this lesion
    views: tuple[str, ...]
    calc_type: str
    distribution: str  # what is rendered
    csv_distribution: str  # what the CSV says ("NA" for many benign-looking lesions)
    subtlety: int
    p_malignant: float
    label: int
    pathology: str
    assessment: int
    depth_frac: float  # position: fraction of breast depth from the chest wall
    lateral_frac: float  # and fractions of the local half-height, two axes
    cranial_frac: float

    def vertical_frac(self, view: str, mlo_angle_deg: float) -> float:
        if view == "CC":
            return self.lateral_frac
        theta = np.deg2rad(mlo_angle_deg)
        return float(np.clip(self.lateral_frac * np.cos(theta) + self.cranial_frac * np.sin(theta),
                             -0.75, 0.75))


@dataclass(frozen=True)
class BreastPlan:
    side: str  # LEFT / RIGHT
    lesions: tuple[LesionPlan, ...]  # two-view lesions first, so their ids match across views

    def lesions_in(self, view: str) -> list[tuple[int, LesionPlan]]:
        """(abnormality id, lesion) of the lesions outlined in this view, ids from 1."""
        shown = [lesion for lesion in self.lesions if view in lesion.views]
        return list(enumerate(shown, start=1))


@dataclass(frozen=True)
class PatientPlan:
    index: int
    patient_id: str
    split: str
    density: int
    breasts: tuple[BreastPlan, ...]


def draw_from(rng: np.random.Generator, weights: Mapping[K, float]) -> K:
    keys = list(weights)
    p = np.array([weights[k] for k in keys], dtype=float)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def _logit(p: float) -> float:
    return float(np.log(p / (1.0 - p)))


def p_malignant(calc_type: str, distribution: str) -> float:
    """Naive Bayes in logit space: type evidence + distribution evidence - its baseline, clipped."""
    logit = (_logit(C.P_MALIGNANT_BY_TYPE[calc_type])
             + _logit(C.P_MALIGNANT_BY_DISTRIBUTION[distribution])
             - _logit(C.DISTRIBUTION_BASELINE_MALIGNANT))
    low, high = C.P_MALIGNANT_CLIP
    return round(float(np.clip(1.0 / (1.0 + np.exp(-logit)), low, high)), 6)


def draw_pathology(rng: np.random.Generator, label: int, calc_type: str) -> str:
    if label == 1:
        return "MALIGNANT"
    p_bwc = C.P_BWC_IF_BENIGN[calc_type in C.BENIGN_LOOKING_TYPES]
    return "BENIGN_WITHOUT_CALLBACK" if rng.random() < p_bwc else "BENIGN"


def draw_lesion(rng: np.random.Generator, lesion_id: str, views: tuple[str, ...]) -> LesionPlan:
    calc_type = draw_from(rng, C.CALC_TYPE_COUNTS)
    distribution = draw_from(rng, C.CALC_DISTRIBUTION_COUNTS)
    benign_looking = calc_type in C.BENIGN_LOOKING_TYPES
    csv_distribution = (C.NO_DISTRIBUTION if rng.random() < C.P_NA_DISTRIBUTION[benign_looking]
                        else distribution)
    p = p_malignant(calc_type, distribution)
    label = int(rng.random() < p)
    pathology = draw_pathology(rng, label, calc_type)
    return LesionPlan(
        lesion_id=lesion_id, views=views, calc_type=calc_type, distribution=distribution,
        csv_distribution=csv_distribution, subtlety=draw_from(rng, C.SUBTLETY_COUNTS),
        p_malignant=p, label=label, pathology=pathology,
        assessment=draw_from(rng, C.ASSESSMENT_BY_PATHOLOGY[pathology]),
        depth_frac=float(rng.uniform(0.25, 0.7)), lateral_frac=float(rng.uniform(-0.55, 0.55)),
        cranial_frac=float(rng.uniform(-0.55, 0.55)),
    )


def draw_breast(rng: np.random.Generator, patient_id: str, side: str) -> BreastPlan:
    n_lesions = draw_from(rng, C.LESIONS_PER_BREAST)
    views = [draw_from(rng, C.LESION_VIEWS) for _ in range(n_lesions)]
    views.sort(key=len, reverse=True)  # stable: two-view lesions first
    lesions = tuple(draw_lesion(rng, f"{patient_id}_{side}_L{i}", v)
                    for i, v in enumerate(views, start=1))
    return BreastPlan(side, lesions)


def plan_patient(rng: np.random.Generator, index: int, single_roi: bool = False) -> PatientPlan:
    """Draw one patient; single_roi gives one train lesion in one CC view (corrupt cases)."""
    patient_id = f"P_{index:05d}"
    split = "train" if single_roi or rng.random() < C.P_TRAIN_PATIENT else "test"
    density = draw_from(rng, C.BREAST_DENSITY_COUNTS)
    if single_roi:
        side = ("LEFT", "RIGHT")[int(rng.integers(2))]
        lesion = draw_lesion(rng, f"{patient_id}_{side}_L1", ("CC",))
        return PatientPlan(index, patient_id, split, density, (BreastPlan(side, (lesion,)),))
    if rng.random() < C.P_BOTH_BREASTS:
        sides = ["LEFT", "RIGHT"]
    else:
        sides = [("LEFT", "RIGHT")[int(rng.integers(2))]]
    breasts = tuple(draw_breast(rng, patient_id, side) for side in sides)
    return PatientPlan(index, patient_id, split, density, breasts)


def case_folder(split: str, patient_id: str, side: str, view: str,
                abnormality_id: int | None = None) -> str:
    """TCIA case folder: Calc-Training_P_00005_RIGHT_CC, and ..._1 for ROI 1's crop and mask."""
    name = f"{SPLIT_PREFIX[split]}_{patient_id}_{side}_{view}"
    return name if abnormality_id is None else f"{name}_{abnormality_id}"


@dataclass(frozen=True)
class RoiFiles:
    """Where one ROI's files are, relative to the output folder, with forward slashes."""

    image: str
    crop: str
    mask: str


def csv_row(plan: PatientPlan, side: str, view: str, abnormality_id: int, lesion: LesionPlan,
            files: RoiFiles, swapped: bool) -> dict[str, str]:
    """One row of the official CSV (keys are CALC_COLUMNS). The crop cell ends in a newline,
    as in the TCIA files; swapped rows point the crop cell at the mask and vice versa."""
    crop, mask = (files.mask, files.crop) if swapped else (files.crop, files.mask)
    return {
        "patient_id": plan.patient_id,
        "breast density": str(plan.density),
        "left or right breast": side,
        "image view": view,
        "abnormality id": str(abnormality_id),
        "abnormality type": "calcification",
        "calc type": lesion.calc_type,
        "calc distribution": lesion.csv_distribution,
        "assessment": str(lesion.assessment),
        "pathology": lesion.pathology,
        "subtlety": str(lesion.subtlety),
        "image file path": files.image,
        "cropped image file path": crop + "\n",
        "ROI mask file path": mask,
    }


def truth_row(plan: PatientPlan, side: str, view: str, abnormality_id: int,
              lesion: LesionPlan) -> dict[str, str]:
    """One row of the phantom_truth.csv sidecar."""
    return {
        "roi_id": case_folder(plan.split, plan.patient_id, side, view, abnormality_id),
        "patient_id": plan.patient_id, "side": side, "view": view,
        "abnormality_id": str(abnormality_id), "split": plan.split,
        "lesion_id": lesion.lesion_id, "calc_type": lesion.calc_type,
        "calc_distribution": lesion.distribution, "subtlety": str(lesion.subtlety),
        "p_malignant": f"{lesion.p_malignant:.6f}", "label": str(lesion.label),
    }
