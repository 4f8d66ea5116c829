"""A soft-vote ensemble of trained classifiers, shaped like one CalcClassifier.

The ensemble's logit is the logit of the members' mean calibrated probability, so that
everything that scores a CalcClassifier (test metrics, bootstrap, calibration plots, Grad-CAM)
scores the ensemble unchanged, and sigmoid(logit) gives back the soft vote.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from mcal_lightning.models.module import CalcClassifier

# keeps the logit finite where every member is certain (BCE of an infinite logit is nan)
PROBABILITY_EPS = 1e-7


class SoftVote(nn.Module):
    """The members' mean of sigmoid(logit / T_member), returned as a logit.

    The input is already in [0, 1]: each member normalises it the way it learned.
    """

    def __init__(self, members: Sequence[CalcClassifier], temperatures: Sequence[float]) -> None:
        super().__init__()
        if not members or len(members) != len(temperatures):
            raise ValueError("an ensemble needs members, one temperature each")
        self.members = nn.ModuleList(members)
        self.register_buffer("temperatures", torch.tensor(list(temperatures),
                                                          dtype=torch.float32))

    def member_probabilities(self, images: Tensor) -> Tensor:
        """(members, B) calibrated probabilities."""
        return torch.stack([torch.sigmoid(member(images).float() / temperature)
                            for member, temperature in zip(self.members, self.temperatures,
                                                           strict=True)])

    def forward(self, images: Tensor) -> Tensor:
        mean = self.member_probabilities(images).mean(dim=0)
        return torch.logit(mean, eps=PROBABILITY_EPS)

    def backbone_modules(self) -> list[nn.Module]:
        """The first member's body: Grad-CAM shows the ensemble's decision through it."""
        return self.members[0].net.backbone_modules()


def soft_vote_classifier(members: Sequence[CalcClassifier],
                         temperatures: Sequence[float]) -> CalcClassifier:
    """A CalcClassifier whose network is the members' soft vote (identity normalisation)."""
    return CalcClassifier(SoftVote(members, temperatures), mean=0.0, std=1.0)
