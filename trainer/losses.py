"""Generator and discriminator losses: L1, hinge/LSGAN adversarial, feature matching, TV.

No pretrained network is involved (no ImageNet VGG can be downloaded here); feature
matching on the discriminator's own features (pix2pixHD) plays the perceptual role.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, mode: str) -> torch.Tensor:
    if mode == "hinge":
        return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()
    return 0.5 * (((real_logits - 1) ** 2).mean() + (fake_logits ** 2).mean())


def g_adv_loss(fake_logits: torch.Tensor, mode: str) -> torch.Tensor:
    if mode == "hinge":
        return -fake_logits.mean()
    return 0.5 * ((fake_logits - 1) ** 2).mean()


def feature_matching(real_feats: list[torch.Tensor], fake_feats: list[torch.Tensor]
                     ) -> torch.Tensor:
    """Mean L1 between discriminator features of real and generated pairs (real detached)."""
    terms = [F.l1_loss(f, r.detach()) for r, f in zip(real_feats, fake_feats, strict=True)]
    return torch.stack(terms).mean()


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Anisotropic TV: mean absolute difference of horizontal and vertical neighbours."""
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + \
        (x[..., :, 1:] - x[..., :, :-1]).abs().mean()
