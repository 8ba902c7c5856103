"""Generator and discriminator losses: L1, hinge/LSGAN adversarial, feature matching, TV,
and identity + perceptual losses on dlib's face network.

No ImageNet VGG can be downloaded here; the face network the app matches with
(sketchlab.core.face_net, dlib's ResNet read from its own `.dat`) plays VGG's role in the
CSI paper, and its descriptor distance is the very quantity a gallery search ranks by.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from sketchlab.core import luma


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


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-x ** 2 / (2 * sigma ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]


def ssim_loss(fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """1 - SSIM of the BT.601 luma (11 x 11 Gaussian window, sigma 1.5, as
    `trainer.metrics.ssim` scores it), for images in [-1, 1]. L1 alone averages an
    uncertain edge into a smear; SSIM rewards the local contrast and structure that FSIM
    and a viewer read (Zhao et al., "Loss Functions for Image Restoration with Neural
    Networks", 2017)."""
    w = torch.tensor(luma.WEIGHTS, device=fake.device).view(1, 3, 1, 1)
    a = ((fake.float() * w).sum(1, keepdim=True) + 1) / 2
    b = ((real.float() * w).sum(1, keepdim=True) + 1) / 2
    win = _gaussian_window().to(fake.device)
    pad = (win.shape[-1] // 2,) * 4

    def blur(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(x, pad, mode="reflect"), win)

    c1, c2 = 0.01 ** 2, 0.03 ** 2
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a ** 2
    var_b = blur(b * b) - mu_b ** 2
    cov = blur(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / \
        ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return 1 - s.mean()


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
