"""The soft vote: the members' mean calibrated probability, usable wherever a classifier is."""

import pytest
import torch

from mcal_lightning.models.ensemble import SoftVote, soft_vote_classifier
from mcal_lightning.models.module import CalcClassifier
from tests.mcal_lightning.networks_support import random_network


def perturbed_member(seed: int) -> CalcClassifier:
    module = CalcClassifier(random_network("alexnet"))
    torch.manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.05)
    return module.eval()


def test_the_ensemble_probability_is_the_members_mean():
    members = [perturbed_member(1), perturbed_member(2), perturbed_member(3)]
    temperatures = [1.0, 2.0, 0.5]
    images = torch.randint(0, 65535, (4, 1, 32, 32), dtype=torch.int32).to(torch.uint16)
    ensemble = soft_vote_classifier(members, temperatures).eval()
    with torch.no_grad():
        expected = torch.stack([torch.sigmoid(m(images) / t)
                                for m, t in zip(members, temperatures, strict=True)]).mean(0)
        found = torch.sigmoid(ensemble(images))
    torch.testing.assert_close(found, expected, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(expected, torch.sigmoid(members[0](images)), atol=1e-4)


def test_certain_members_keep_the_logit_finite():
    class Certain(torch.nn.Module):
        def forward(self, images: torch.Tensor) -> torch.Tensor:
            return torch.full((len(images),), 1e4)

    vote = SoftVote([Certain(), Certain()], [1.0, 1.0])  # type: ignore[list-item]
    assert torch.isfinite(vote(torch.zeros(2, 1, 4, 4))).all()


def test_members_need_one_temperature_each():
    with pytest.raises(ValueError, match="one temperature each"):
        SoftVote([perturbed_member(1)], [1.0, 2.0])
