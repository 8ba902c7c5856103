"""Conditional PatchGAN discriminator (pix2pix) with spectral normalisation.

It sees the sketch and a photo stacked (6 channels) and scores overlapping ~70 px
patches, so it judges texture and local structure while L1 handles the layout. Spectral
norm replaces normalisation layers and keeps the hinge GAN stable with few steps.
Intermediate features are returned for the feature-matching loss.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


class PatchDiscriminator(nn.Module):
    def __init__(self, in_channels: int = 6, width: int = 32, n_layers: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin, cout = in_channels, width
        for i in range(n_layers):
            layers.append(nn.Sequential(
                spectral_norm(nn.Conv2d(cin, cout, 4, stride=2, padding=1)),
                nn.LeakyReLU(0.2, inplace=True)))
            cin, cout = cout, min(cout * 2, width * 8)
            del i
        layers.append(nn.Sequential(spectral_norm(nn.Conv2d(cin, cout, 4, stride=1, padding=1)),
                                    nn.LeakyReLU(0.2, inplace=True)))
        self.features = nn.ModuleList(layers)
        self.head = spectral_norm(nn.Conv2d(cout, 1, 4, stride=1, padding=1))

    def forward(self, sketch: torch.Tensor, photo: torch.Tensor
                ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Patch logits (N, 1, h, w) and the list of intermediate feature maps."""
        x = torch.cat([sketch, photo], dim=1)
        feats = []
        for layer in self.features:
            x = layer(x)
            feats.append(x)
        return self.head(x), feats
