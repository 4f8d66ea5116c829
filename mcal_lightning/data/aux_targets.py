"""Auxiliary training targets: the radiologist's calcification type and distribution of each ROI.

CBIS-DDSM (and the phantom, which copies its vocabulary) annotates every calcification with a
BI-RADS type and distribution. Predicting them beside malignancy is a second, far less noisy
signal of the same morphology (multi-task learning); only training uses them, never a prediction.
Compound values ("PLEOMORPHIC-FINE_LINEAR_BRANCHING") count under their first term and rare types
fold into the nearest frequent one, as in the phantom's constants.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from preprocessing.phantom.constants import CALC_DISTRIBUTION_COUNTS, CALC_TYPE_COUNTS

CALC_TYPES: tuple[str, ...] = tuple(CALC_TYPE_COUNTS)
CALC_DISTRIBUTIONS: tuple[str, ...] = tuple(CALC_DISTRIBUTION_COUNTS)
AUX_CLASSES = (len(CALC_TYPES), len(CALC_DISTRIBUTIONS))  # output units per auxiliary task
IGNORE = -100  # torch's cross-entropy ignore_index: no annotation, no loss
FOLDED_TYPES = {
    "LUCENT_CENTERED": "LUCENT_CENTER",
    "DYSTROPHIC": "COARSE",
    "LARGE_RODLIKE": "COARSE",
    "EGGSHELL": "COARSE",
    "SKIN": "COARSE",
    "MILK_OF_CALCIUM": "COARSE",
}


class NoAuxTargets(ValueError):
    """Auxiliary targets were asked for, but no training ROI names a known type or distribution."""


def primary_term(value: object) -> str:
    """The first term of a (possibly compound) annotation, upper case; "" when there is none."""
    if not isinstance(value, str):
        return ""
    return value.strip().upper().replace(" ", "_").split("-")[0]


def class_ids(values: pd.Series, vocabulary: tuple[str, ...],
              folded: dict[str, str] | None = None) -> np.ndarray:
    """Each value's position in vocabulary, IGNORE where it names none of it."""
    lookup = {term: i for i, term in enumerate(vocabulary)}
    for rare, common in (folded or {}).items():
        lookup[rare] = lookup[common]
    return np.array([lookup.get(primary_term(v), IGNORE) for v in values], dtype=np.int64)


def aux_target_table(table: pd.DataFrame) -> np.ndarray:
    """(n_rows, 2) int64 by cache row: calc type id, calc distribution id (IGNORE if unknown)."""
    rows = table["row"].to_numpy(dtype=np.int64)
    targets = np.full((int(rows.max()) + 1 if len(rows) else 0, 2), IGNORE, dtype=np.int64)
    empty = pd.Series([""] * len(table), index=table.index)
    targets[rows, 0] = class_ids(table.get("calc_type", empty), CALC_TYPES, FOLDED_TYPES)
    targets[rows, 1] = class_ids(table.get("calc_distribution", empty), CALC_DISTRIBUTIONS)
    return targets


def check_annotated(targets: np.ndarray, train_rows: np.ndarray) -> None:
    """Refuse auxiliary training on a cache whose training ROIs carry no usable annotation."""
    if not (targets[train_rows] != IGNORE).any():
        raise NoAuxTargets(
            "aux_weight > 0 needs calc type or calc distribution annotations "
            f"({', '.join(CALC_TYPES)}; {', '.join(CALC_DISTRIBUTIONS)}) on the training ROIs, "
            "and this cache's index has none. Set aux_weight to 0 (--aux-weight 0).")


def aux_loss(aux_logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy on calc type plus on distribution, each over its annotated ROIs only.

    aux_logits: (B, types + distributions); targets: (B, 2) ids, IGNORE where unannotated.
    """
    n_types = AUX_CLASSES[0]
    total = aux_logits.float().sum() * 0.0  # in the graph even when nothing is annotated
    for logits, target in ((aux_logits[:, :n_types], targets[:, 0]),
                           (aux_logits[:, n_types:], targets[:, 1])):
        if (target != IGNORE).any():  # a batch with none would give NaN
            total = total + F.cross_entropy(logits.float(), target, ignore_index=IGNORE)
    return total
