"""The concept head: malignancy read from the predicted BI-RADS morphology (a concept bottleneck).

The network's last layer predicts each ROI's calcification type and distribution (the
radiologist's annotations, ``data.aux_targets``), trained on those clean labels alone. The
malignancy probability is the expected malignant rate of the predicted type,
``sum_t P(type = t | image) * rate[t]``, with ``rate`` the train split's malignant fraction of
each annotated type. This is an independent concept bottleneck model (Koh et al., ICML 2020)
whose label predictor is a frequency table: the pathology labels, noisy given the morphology,
only fit that table, so the network learns from the clean signal. The table is a buffer of the
layer: checkpoints and logged models carry it.

``offset`` is added to the malignancy logit: log(n_benign / n_malignant) moves the train split's
prior to 50/50 (Bayes' rule), so that 0.5 is the balanced decision threshold, as the direct
head's BCE class weights make it. Being monotone, it leaves every ROI's ranking (AUC) as it is.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from mcal_lightning.data.aux_targets import AUX_CLASSES, IGNORE

RATE_PRIOR_WEIGHT = 1.0  # pseudo-ROIs at the overall rate added to each type: shrinkage
RATE_CLIP = 1e-4  # keeps the malignancy logit finite when every predicted type is all-benign


class ConceptLayer(nn.Module):
    """hidden -> (types + distributions) concept logits -> one malignancy logit."""

    def __init__(self, in_features: int) -> None:
        super().__init__()
        self.concept = nn.Linear(in_features, sum(AUX_CLASSES))
        self.register_buffer("rates", torch.full((AUX_CLASSES[0],), 0.5))
        self.register_buffer("offset", torch.zeros(()))

    def concepts(self, hidden: Tensor) -> Tensor:
        """(B, types + distributions) logits, the auxiliary targets' layout."""
        return self.concept(hidden)

    def malignancy(self, concept_logits: Tensor) -> Tensor:
        """(B, 1) logit of the expected malignant rate under the predicted type, plus offset."""
        type_probs = concept_logits[:, :AUX_CLASSES[0]].float().softmax(dim=-1)
        prob = (type_probs @ self.rates).clamp(RATE_CLIP, 1 - RATE_CLIP)
        return (torch.logit(prob) + self.offset).unsqueeze(-1)

    def forward(self, hidden: Tensor) -> Tensor:
        return self.malignancy(self.concepts(hidden))

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args: object) -> None:
        # checkpoints from before the prior shift have no offset: theirs was 0
        state_dict.setdefault(f"{prefix}offset", torch.zeros(()))
        super()._load_from_state_dict(state_dict, prefix, *args)

    def set_rates(self, rates: np.ndarray, offset: float = 0.0) -> None:
        self.rates.copy_(torch.as_tensor(rates, dtype=self.rates.dtype))
        self.offset.fill_(offset)


def type_rates(type_ids: np.ndarray, labels: np.ndarray,
               prior_weight: float = RATE_PRIOR_WEIGHT) -> np.ndarray:
    """(types,) malignant fraction of each annotated type, shrunk towards the overall rate.

    type_ids: the training ROIs' type ids (IGNORE where unannotated); labels: their 0/1 labels.
    A type no training ROI shows gets the overall rate.
    """
    type_ids, labels = np.asarray(type_ids), np.asarray(labels, dtype=np.float64)
    known = type_ids != IGNORE
    overall = labels[known].mean() if known.any() else labels.mean()
    counts = np.bincount(type_ids[known], minlength=AUX_CLASSES[0])
    positives = np.bincount(type_ids[known], weights=labels[known], minlength=AUX_CLASSES[0])
    return (positives + prior_weight * overall) / (counts + prior_weight)
