"""Start a deeper generator from a trained one, as if the extra depth were not there.

A search model may spend more compute than the live preview, but a 2-core lab cannot
retrain it from scratch. The residual trunk is where depth is cheap to add without
changing anything else: a residual block whose last normalisation has zero scale and
shift adds nothing (x + 0), so the deeper network starts out computing exactly what the
trained one does, and training then decides what the new blocks contribute.

An exactly-zero scale starves the block's own convolutions of gradient (they feed a
product with zero), so in a CPU-length run the scale barely leaves zero and the deeper
network stays the shallower one. A small non-zero scale (`scale`) lets the convolutions
learn from the first step at the cost of a small change to the starting function.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from sketchlab.core.network import Generator


def can_deepen(smaller: Generator, config) -> bool:
    """True when `config` differs from `smaller`'s only by more residual blocks and a
    normalisation with a scale (the zero start needs one)."""
    src = smaller.config
    return (config.n_residual > src.n_residual and config.norm == "instance"
            and dataclasses.replace(src, n_residual=config.n_residual) == config)


@torch.no_grad()
def deepen_into(target: Generator, smaller: Generator, scale: float = 0.0) -> None:
    """Copy `smaller` into `target` (same network with more residual blocks) and make the
    blocks it lacks start as identities (`scale` 0) or near them (their last
    normalisation's scale set to `scale`, its shift to 0)."""
    if not can_deepen(smaller, target.config):
        raise ValueError(f"cannot grow {smaller.config} into {target.config}: only the "
                         "number of residual blocks may differ (instance norm)")
    missing, unexpected = target.load_state_dict(smaller.state_dict(), strict=False)
    if unexpected:
        raise ValueError(f"unexpected tensors: {unexpected[:3]}")
    n = smaller.config.n_residual
    for block in list(target.residual)[n:]:
        last_norm = block.body[-1]
        assert isinstance(last_norm, nn.InstanceNorm2d) and last_norm.affine
        last_norm.weight.fill_(scale)
        last_norm.bias.zero_()
    grown = {k for k in missing if not k.startswith(tuple(
        f"residual.{i}." for i in range(n, target.config.n_residual)))}
    if grown:
        raise ValueError(f"tensors not copied: {sorted(grown)[:3]}")
