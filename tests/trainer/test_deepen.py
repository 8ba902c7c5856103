"""A deeper generator started from a trained one computes what the trained one does."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from sketchlab.core.network import Generator, GeneratorConfig
from trainer.deepen import can_deepen, deepen_into


def _trained(cfg: GeneratorConfig) -> Generator:
    g = Generator(cfg)
    torch.manual_seed(1)
    with torch.no_grad():  # non-trivial norms, so a copied block that was skipped shows
        for p in g.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return g.eval()


def test_the_deeper_network_starts_as_the_trained_one_and_can_learn():
    small_cfg = GeneratorConfig(base_width=4, n_residual=2, height=32, width=32)
    small = _trained(small_cfg)
    deep = Generator(dataclasses.replace(small_cfg, n_residual=5)).eval()
    deepen_into(deep, small)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.equal(deep(x), small(x))
    # The new blocks are not dead: the loss reaches their zero-started scales.
    deep.train()
    deep(x).square().mean().backward()
    assert deep.residual[4].body[-1].weight.grad.abs().sum() > 0


def test_a_small_start_scale_lets_the_new_blocks_convolutions_learn():
    small_cfg = GeneratorConfig(base_width=4, n_residual=2, height=32, width=32)
    small = _trained(small_cfg)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    grads = {}
    for scale in (0.0, 0.05):
        deep = Generator(dataclasses.replace(small_cfg, n_residual=4)).train()
        deepen_into(deep, small, scale=scale)
        assert torch.equal(deep.residual[3].body[-1].weight,
                           torch.full_like(deep.residual[3].body[-1].weight, scale))
        deep(x).square().mean().backward()
        grads[scale] = deep.residual[3].body[0].weight.grad
    first_conv = grads[0.0]
    assert first_conv is None or first_conv.abs().sum() == 0  # starved at exactly zero
    assert grads[0.05].abs().sum() > 0
    with torch.no_grad():  # and the start stays close to the trained network
        deep.eval(), small.eval()
        assert (deep(x) - small(x)).abs().mean() < 0.05


def test_only_depth_may_differ():
    small = Generator(GeneratorConfig(base_width=4, n_residual=2, height=32, width=32))
    wider = GeneratorConfig(base_width=8, n_residual=4, height=32, width=32)
    assert not can_deepen(small, wider)
    with pytest.raises(ValueError, match="residual blocks"):
        deepen_into(Generator(wider), small)
    no_scale = GeneratorConfig(base_width=4, n_residual=4, height=32, width=32, norm="none")
    assert not can_deepen(Generator(dataclasses.replace(no_scale, n_residual=2)), no_scale)
