"""Metrics against values worked out by hand on tiny arrays."""

from __future__ import annotations

import numpy as np
import pytest

from trainer import metrics


def test_pearson_hand_value() -> None:
    a = np.array([[1.0, 2.0], [3.0, 4.0]])
    b = np.array([[2.0, 4.0], [5.0, 9.0]])
    # means 2.5 and 5; deviations (-1.5,-.5,.5,1.5) and (-3,-1,0,4):
    # cov sum = 4.5+0.5+0+6 = 11; sqrt(5 * 26) = sqrt(130)
    assert metrics.pearson(a, b) == pytest.approx(11 / np.sqrt(130), abs=1e-12)
    assert metrics.pearson(a, -a) == pytest.approx(-1.0)
    assert metrics.pearson(a, np.ones_like(a)) == 0.0  # undefined: reported as 0


def test_pearson_grey_uses_bt601_luma() -> None:
    a = np.zeros((2, 2, 3))
    a[0, 0] = (100, 0, 0)
    a[1, 1] = (0, 0, 100)
    b = np.zeros((2, 2))
    b[0, 0], b[1, 1] = 29.9, 11.4  # 0.299*100, 0.114*100
    assert metrics.pearson_gray(a, np.repeat(b[..., None], 3, 2)) == pytest.approx(1.0)
    assert metrics.to_gray(a)[0, 0] == pytest.approx(29.9)


def test_ssim_of_constant_images_hand_value() -> None:
    # No variance: SSIM = (2ab + C1) / (a^2 + b^2 + C1), C1 = (0.01 * 255)^2 = 6.5025.
    a = np.full((12, 12), 100.0)
    b = np.full((12, 12), 110.0)
    expected = (2 * 100 * 110 + 6.5025) / (100**2 + 110**2 + 6.5025)
    assert metrics.ssim(a, b) == pytest.approx(expected, rel=1e-9)
    assert metrics.ssim(a, a) == pytest.approx(1.0)


def test_ssim_colour_is_channel_mean() -> None:
    a = np.stack([np.full((12, 12), v) for v in (100.0, 50.0, 200.0)], axis=2)
    b = np.stack([np.full((12, 12), v) for v in (110.0, 50.0, 190.0)], axis=2)
    c1 = 6.5025
    per = [(2 * x * y + c1) / (x * x + y * y + c1) for x, y in ((100, 110), (50, 50), (200, 190))]
    assert metrics.ssim_colour(a, b) == pytest.approx(np.mean(per), rel=1e-9)


def test_gradient_magnitude_hand_value() -> None:
    # A vertical step of height 16: the /16 Scharr kernel gives (3+10+3)/16*16 = 16 on
    # both columns beside the step, in rows away from the zero-padded border.
    img = np.zeros((5, 6))
    img[:, 3:] = 16.0
    g = metrics.gradient_magnitude(img)
    assert g[2, 2] == pytest.approx(16.0) and g[2, 3] == pytest.approx(16.0)
    assert g[2, 1] == pytest.approx(0.0) and g[2, 4] == pytest.approx(0.0)


def test_fsim_pooling_hand_value() -> None:
    pc1 = np.array([[0.5, 0.0]])
    pc2 = np.array([[0.25, 0.0]])
    g1 = np.array([[10.0, 3.0]])
    g2 = np.array([[20.0, 3.0]])
    s_pc = (2 * 0.5 * 0.25 + 0.85) / (0.25 + 0.0625 + 0.85)
    s_g = (2 * 200 + 160) / (100 + 400 + 160)
    # pixel 2 has PCm = 0 and does not count; pixel 1 has weight PCm = 0.5.
    assert metrics.fsim_from_maps(pc1, pc2, g1, g2) == pytest.approx(s_pc * s_g, rel=1e-12)


def test_phase_congruency_properties() -> None:
    img = np.zeros((64, 64))
    img[:, 32:] = 100.0  # the FFT is periodic, so columns 63|0 are a step edge too
    pc = metrics.phase_congruency(img)
    assert pc.shape == img.shape and pc.min() >= 0 and pc.max() <= 1
    # A step edge is where phases agree: PC peaks there, well above the flat parts.
    assert pc[32, 31:33].max() == pytest.approx(pc.max())
    assert pc[32, 31:33].max() > 0.7 and pc[32, 8] < 0.35
    # Invariant to brightness and contrast (the DC term is removed, the noise threshold
    # scales with the signal).
    assert np.allclose(metrics.phase_congruency(img * 2 + 30), pc, atol=1e-9)
    assert np.all(metrics.phase_congruency(np.full((16, 16), 7.0)) == 0)


def test_fsim_identity_and_ordering() -> None:
    rng = np.random.default_rng(0)
    import cv2

    a = cv2.GaussianBlur(rng.random((48, 40, 3)) * 255, (0, 0), 1.5)
    assert metrics.fsim(a, a) == pytest.approx(1.0)
    assert metrics.fsim_colour(a, a) == pytest.approx(1.0)
    slight = np.clip(a + rng.normal(0, 3, a.shape), 0, 255)
    heavy = np.clip(a + rng.normal(0, 40, a.shape), 0, 255)
    assert 1.0 > metrics.fsim(a, slight) > metrics.fsim(a, heavy)
    grey = np.repeat(metrics.to_gray(a)[..., None], 3, axis=2)
    assert metrics.fsim(a, grey) == pytest.approx(1.0)  # same luma
    assert metrics.fsim_colour(a, grey) < 1.0  # chroma lost


def test_shape_mismatch_is_refused() -> None:
    with pytest.raises(ValueError, match="differ in shape"):
        metrics.ssim(np.zeros((4, 4)), np.zeros((4, 5)))


def _face_like(h: int, w: int, seed: int) -> np.ndarray:
    """A smooth colour picture with edges at several scales (deterministic)."""
    import cv2

    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.random((h, w, 3)) * 255, (0, 0), 3.0)
    for _ in range(12):
        c = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        cv2.ellipse(img, c, (int(rng.integers(5, w // 3)), int(rng.integers(5, h // 3))),
                    float(rng.integers(0, 180)), 0, 360, rng.random(3) * 255, -1)
    return cv2.GaussianBlur(img, (0, 0), 1.0)


@pytest.mark.parametrize("shape", [(250, 200), (520, 400)])  # the second is downsampled (F=2)
def test_fsim_matches_piq(shape) -> None:
    """Our port against an independent one: piq's FSIM/FSIMc (a dev dependency), same
    parameters. Measured agreement on CUFS photo/sketch pairs: within 5e-5. Pinned where
    both follow FSIM.m: no downsampling, and F=2 (this test found our F=2 window one pixel
    off). For F >= 3 piq pools blocks [m, m+F-1] where FSIM.m's conv2 'same' centres them,
    so the two differ by ~1e-3 there by definition."""
    import cv2
    import torch

    piq = pytest.importorskip("piq")  # in the dev extra; skipped only outside `make setup`
    a = _face_like(*shape, seed=1)
    b = np.clip(cv2.GaussianBlur(a, (0, 0), 1.5) + np.random.default_rng(2).normal(
        0, 6, a.shape), 0, 255)

    def t(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.asarray(x, np.float32)).permute(2, 0, 1)[None]

    ours = metrics.fsim_both(a.astype(np.float32), b.astype(np.float32))
    ref = (float(piq.fsim(t(a), t(b), data_range=255.0, chromatic=False)),
           float(piq.fsim(t(a), t(b), data_range=255.0, chromatic=True)))
    assert 0.5 < ref[0] < 0.99  # a pair the metric can tell apart from identical
    assert ours[0] == pytest.approx(ref[0], abs=5e-4)
    assert ours[1] == pytest.approx(ref[1], abs=5e-4)


def test_grey_means_one_luma_for_the_app_and_the_metrics() -> None:
    """The app greys a search with OpenCV; the grey metrics use `core.luma`: both must
    weigh the channels alike, or a "grey" figure would describe another search."""
    import cv2

    rgb = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    opencv = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float64)
    assert np.abs(metrics.to_gray(rgb) - opencv).max() <= 0.5 + 1e-9  # rounding only
