"""Random-init backbones for the tests: each built once per test process, handed out as copies.

Building one runs torchvision's initialisation of the whole model, a VGG16's 100M-parameter
classifier included, which the network then drops: seconds, where a copy of the built network
takes a fraction of one.
"""

import copy
from functools import cache

import torch

from mcal_lightning.models.backbones import ClassifierNet, build_network

HEAD_HIDDEN = 32


@cache
def built_network(arch: str) -> ClassifierNet:
    torch.manual_seed(0)
    return build_network(arch, weights="none", head_hidden=HEAD_HIDDEN)


def random_network(arch: str) -> ClassifierNet:
    """arch from random init (seed 0), with a head of HEAD_HIDDEN units: a fresh copy each call."""
    return copy.deepcopy(built_network(arch))
