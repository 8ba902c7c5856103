"""The sketch-inversion generator: one definition shared by the app and the trainer.

After Güçlütürk et al., "Convolutional Sketch Inversion" (ECCV 2016): a 9x9 input
convolution, two stride-2 downsamplings, residual blocks with normalisation, two
upsamplings and a 9x9 output convolution with tanh. Width, depth and resolution are
configurable; the defaults are the lean variant chosen by measurement (docs/decisions.md,
"The network") so the live preview keeps up with the pen on a 2-core CPU.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.parallel import DataParallel, DistributedDataParallel

# The config lives in a torch-free module so the app can list models before torch loads.
from sketchlab.core.network_config import GeneratorConfig, Norm, Upsample, estimate_gflops

__all__ = ["Generator", "GeneratorConfig", "Norm", "ResidualBlock", "Upsample", "estimate_gflops"]


def _norm(kind: Norm, channels: int) -> nn.Module:
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    return nn.Identity()


def _conv_block(cin: int, cout: int, k: int, stride: int, norm: Norm) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, padding_mode="reflect",
                  bias=norm == "none"),
        _norm(norm, cout),
        nn.ReLU(inplace=True),
    )


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with normalisation and an identity shortcut."""

    def __init__(self, channels: int, norm: Norm) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, padding_mode="reflect",
                      bias=norm == "none"),
            _norm(norm, channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1, padding_mode="reflect",
                      bias=norm == "none"),
            _norm(norm, channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def _up_block(cin: int, cout: int, cfg: GeneratorConfig) -> nn.Sequential:
    # Nearest upsampling + conv avoids the checkerboard artefacts of transposed
    # convolutions and measured no slower on CPU (docs/decisions.md, "The network").
    if cfg.upsample == "transpose":
        conv: list[nn.Module] = [nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1,
                                                    output_padding=1, bias=cfg.norm == "none")]
    else:
        conv = [nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(cin, cout, 3, padding=1, padding_mode="reflect",
                          bias=cfg.norm == "none")]
    return nn.Sequential(*conv, _norm(cfg.norm, cout), nn.ReLU(inplace=True))


class Generator(nn.Module):
    """Sketch (N, in_channels, H, W) in [-1, 1] -> photo (N, out_channels, H, W) in [-1, 1]."""

    def __init__(self, config: GeneratorConfig | None = None) -> None:
        super().__init__()
        self.config = config or GeneratorConfig()
        c = self.config
        w = c.base_width
        self.encoder = nn.Sequential(
            _conv_block(c.in_channels, w, 9, 1, c.norm),
            _conv_block(w, 2 * w, 3, 2, c.norm),
            _conv_block(2 * w, 4 * w, 3, 2, c.norm),
        )
        self.residual = nn.Sequential(*(ResidualBlock(4 * w, c.norm) for _ in range(c.n_residual)))
        self.decoder = nn.Sequential(
            _up_block(4 * w, 2 * w, c),
            _up_block(2 * w, w, c),
            nn.Conv2d(w, c.out_channels, 9, padding=4, padding_mode="reflect"),
            nn.Tanh(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.residual(self.encoder(x)))

    def stages(self) -> list[nn.Module]:
        """forward() as a chain of modules, applied in order: the live preview runs them one
        at a time, so that a pen-up can stop a preview of an older canvas between them."""
        return [*self.encoder, *self.residual, *self.decoder[:-2],
                nn.Sequential(*self.decoder[-2:])]


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def unwrap(module: nn.Module) -> nn.Module:
    """The bare module under torch.compile (`_orig_mod`) and DDP / DataParallel (`module`)
    wrappers, in any nesting: the one whose state_dict keys a checkpoint stores."""
    while True:
        if hasattr(module, "_orig_mod"):
            module = module._orig_mod
        elif isinstance(module, DataParallel | DistributedDataParallel):
            module = module.module
        else:
            return module
