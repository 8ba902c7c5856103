"""Generator and discriminator losses: L1, hinge/LSGAN adversarial, feature matching, TV,
and identity + perceptual losses on dlib's face network.

No ImageNet VGG can be downloaded here; the face network the app matches with
(sketchlab.core.face_net, dlib's ResNet read from its own `.dat`) plays VGG's role in the
CSI paper, and its descriptor distance is the very quantity a gallery search ranks by.
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


def identity_loss(fake_desc: torch.Tensor, real_desc: torch.Tensor) -> torch.Tensor:
    """Mean Euclidean distance between dlib descriptors (what the gallery ranks by)."""
    return (fake_desc - real_desc.detach()).norm(dim=1).mean()


def perceptual_loss(real_feats: list[torch.Tensor], fake_feats: list[torch.Tensor]
                    ) -> torch.Tensor:
    """L1 between face-network activations per level, each scaled by the real features'
    mean magnitude so that no level dominates by its scale."""
    terms = []
    for r, f in zip(real_feats, fake_feats, strict=True):
        r = r.detach()
        terms.append(F.l1_loss(f, r) / (r.abs().mean() + 1e-6))
    return torch.stack(terms).mean()
