import pytest
import torch

from sketchlab.core.network import Generator, GeneratorConfig, count_parameters, estimate_gflops


def test_output_shape_and_range():
    cfg = GeneratorConfig(base_width=8, n_residual=2, height=32, width=24)
    net = Generator(cfg).eval()
    x = torch.rand(2, 3, 32, 24) * 2 - 1
    with torch.no_grad():
        y = net(x)
    assert y.shape == (2, 3, 32, 24)
    assert y.abs().max() <= 1.0


@pytest.mark.parametrize("upsample", ["nearest", "transpose"])
@pytest.mark.parametrize("norm", ["instance", "batch", "none"])
def test_variants_build_and_run(norm, upsample):
    cfg = GeneratorConfig(base_width=4, n_residual=1, height=16, width=16, norm=norm,
                          upsample=upsample)
    net = Generator(cfg).eval()
    assert net(torch.zeros(1, 3, 16, 16)).shape == (1, 3, 16, 16)


def test_paper_layout_kernel_sizes():
    net = Generator(GeneratorConfig())
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs[0].kernel_size == (9, 9) and convs[-1].kernel_size == (9, 9)
    strides = [m.stride for m in convs if m.stride == (2, 2)]
    assert len(strides) == 2
    assert isinstance(net.decoder[-1], torch.nn.Tanh)


def test_config_roundtrip_and_validation():
    cfg = GeneratorConfig(base_width=16)
    assert GeneratorConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError):
        GeneratorConfig(height=130)
    with pytest.raises(ValueError):
        GeneratorConfig.from_dict({"bogus": 1})


def test_flops_and_params_are_lean_by_default():
    cfg = GeneratorConfig()
    assert count_parameters(Generator(cfg)) < 2_000_000
    assert 1.0 < estimate_gflops(cfg) < 6.0
