"""Image-quality metrics of the sketch-inversion literature, exactly as defined here.

All take two uint8 (or float, 0-255 scale) images of the same shape, (H, W) grey or
(H, W, 3) RGB. "Grey" means ITU-R BT.601 luma Y = 0.299 R + 0.587 G + 0.114 B.

- SSIM (Wang et al. 2004): Gaussian window sigma 1.5 (11x11), K1 0.01, K2 0.03, L 255,
  reflect-101 borders, mean of the full SSIM map. Colour SSIM: mean over R, G, B.
- Pearson R: the product-moment correlation of all pixel values (flattened). Colour R: mean
  of the R, G, B channels' correlations.
- FSIM / FSIMc (Zhang, Zhang, Mou & Zhang, IEEE TIP 2011), ported line by line from the
  authors' MATLAB FSIM.m and phasecong2.m (Kovesi's phase congruency: 4 scales, 4
  orientations, minimum wavelength 6, scale factor 2, sigmaOnf 0.55, dThetaOnSigma 1.2,
  k 2, noise threshold /1.7), Scharr-type gradient /16, T1 0.85, T2 160; FSIMc adds YIQ
  chrominance with T3 = T4 = 200 and lambda 0.03. Images whose shorter side exceeds 384 px
  are box-filtered and subsampled by F = round(min(H,W)/256) first, as in FSIM.m.
"""

from __future__ import annotations

import cv2
import numpy as np

from sketchlab.core import luma

_LUMA = np.array(luma.WEIGHTS)


def to_gray(img: np.ndarray) -> np.ndarray:
    a = np.asarray(img, dtype=np.float64)
    return a @ _LUMA if a.ndim == 3 else a


def _check(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")
    return a, b


# --- SSIM -------------------------------------------------------------------------------
def ssim_map(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> np.ndarray:
    a, b = _check(a, b)
    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2

    def blur(x: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(x, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT_101)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a ** 2
    var_b = blur(b * b) - mu_b ** 2
    cov = blur(a * b) - mu_a * mu_b
    return ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / \
        ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Grey SSIM for 2-D input; for RGB input, SSIM of the luma."""
    a, b = _check(a, b)
    return float(ssim_map(to_gray(a), to_gray(b)).mean())


def ssim_colour(a: np.ndarray, b: np.ndarray) -> float:
    a, b = _check(a, b)
    return float(np.mean([ssim_map(a[..., c], b[..., c]).mean() for c in range(3)]))


# --- Pearson ----------------------------------------------------------------------------
def pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = _check(a, b)
    x = a.ravel() - a.mean()
    y = b.ravel() - b.mean()
    den = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / den) if den > 0 else 0.0


def pearson_gray(a: np.ndarray, b: np.ndarray) -> float:
    a, b = _check(a, b)
    return pearson(to_gray(a), to_gray(b))


def pearson_colour(a: np.ndarray, b: np.ndarray) -> float:
    a, b = _check(a, b)
    return float(np.mean([pearson(a[..., c], b[..., c]) for c in range(3)]))


# --- FSIM -------------------------------------------------------------------------------
def _freq_grid(rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Normalised frequency radius and angle, ifftshifted (phasecong2.m)."""
    def rng(n: int) -> np.ndarray:
        if n % 2:
            return np.arange(-(n - 1) / 2, (n - 1) / 2 + 1) / (n - 1)
        return np.arange(-n / 2, n / 2) / n

    x, y = np.meshgrid(rng(cols), rng(rows))
    radius = np.fft.ifftshift(np.sqrt(x ** 2 + y ** 2))
    theta = np.fft.ifftshift(np.arctan2(-y, x))
    return radius, theta


def _lowpass(rows: int, cols: int, cutoff: float = 0.45, n: int = 15) -> np.ndarray:
    radius, _ = _freq_grid(rows, cols)
    return 1.0 / (1.0 + (radius / cutoff) ** (2 * n))


def phase_congruency(img: np.ndarray, nscale: int = 4, norient: int = 4,
                     min_wavelength: float = 6, mult: float = 2, sigma_onf: float = 0.55,
                     d_theta_on_sigma: float = 1.2, k: float = 2.0,
                     epsilon: float = 1e-4) -> np.ndarray:
    """Kovesi's phase congruency as in FSIM's phasecong2.m; values in [0, 1]."""
    im = np.asarray(img, dtype=np.float64)
    rows, cols = im.shape
    theta_sigma = np.pi / norient / d_theta_on_sigma
    imagefft = np.fft.fft2(im)
    radius, theta = _freq_grid(rows, cols)
    radius[0, 0] = 1.0
    sintheta, costheta = np.sin(theta), np.cos(theta)
    lp = _lowpass(rows, cols)
    log_gabor = []
    for s in range(nscale):
        fo = 1.0 / (min_wavelength * mult ** s)
        g = np.exp(-(np.log(radius / fo)) ** 2 / (2 * np.log(sigma_onf) ** 2)) * lp
        g[0, 0] = 0.0
        log_gabor.append(g)
    energy_all = np.zeros((rows, cols))
    an_all = np.zeros((rows, cols))
    for o in range(norient):
        angl = o * np.pi / norient
        ds = sintheta * np.cos(angl) - costheta * np.sin(angl)
        dc = costheta * np.cos(angl) + sintheta * np.sin(angl)
        dtheta = np.abs(np.arctan2(ds, dc))
        spread = np.exp(-dtheta ** 2 / (2 * theta_sigma ** 2))
        sum_e = np.zeros((rows, cols))
        sum_o = np.zeros((rows, cols))
        sum_an = np.zeros((rows, cols))
        eo = []
        ifft_filters = []
        em_n = 0.0
        for s in range(nscale):
            filt = log_gabor[s] * spread
            ifft_filters.append(np.real(np.fft.ifft2(filt)) * np.sqrt(rows * cols))
            e = np.fft.ifft2(imagefft * filt)
            eo.append(e)
            sum_an += np.abs(e)
            sum_e += e.real
            sum_o += e.imag
            if s == 0:
                em_n = float((filt ** 2).sum())
        x_energy = np.sqrt(sum_e ** 2 + sum_o ** 2) + epsilon
        mean_e, mean_o = sum_e / x_energy, sum_o / x_energy
        energy = np.zeros((rows, cols))
        for e in eo:
            energy += e.real * mean_e + e.imag * mean_o - np.abs(e.real * mean_o - e.imag * mean_e)
        median_e2n = float(np.median(np.abs(eo[0]) ** 2))
        mean_e2n = -median_e2n / np.log(0.5)
        noise_power = mean_e2n / em_n
        est_sum_an2 = sum(f ** 2 for f in ifft_filters)
        est_sum_aiaj = np.zeros((rows, cols))
        for si in range(nscale - 1):
            for sj in range(si + 1, nscale):
                est_sum_aiaj += ifft_filters[si] * ifft_filters[sj]
        est_noise_energy2 = 2 * noise_power * est_sum_an2.sum() + \
            4 * noise_power * est_sum_aiaj.sum()
        tau = np.sqrt(est_noise_energy2 / 2)
        est_noise_energy = tau * np.sqrt(np.pi / 2)
        est_noise_sigma = np.sqrt((2 - np.pi / 2) * tau ** 2)
        t = (est_noise_energy + k * est_noise_sigma) / 1.7
        energy_all += np.maximum(energy - t, 0.0)
        an_all += sum_an
    with np.errstate(invalid="ignore", divide="ignore"):
        pc = energy_all / an_all
    return np.nan_to_num(pc, nan=0.0, posinf=0.0)


def gradient_magnitude(img: np.ndarray) -> np.ndarray:
    """|grad| with FSIM's Scharr-type kernels /16 and zero padding (conv2 'same')."""
    im = np.asarray(img, dtype=np.float64)
    dx = np.array([[3, 0, -3], [10, 0, -10], [3, 0, -3]], np.float64) / 16
    dy = np.array([[3, 10, 3], [0, 0, 0], [-3, -10, -3]], np.float64) / 16
    # filter2D correlates, conv2 convolves: the kernels flip sign only, magnitude is equal.
    gx = cv2.filter2D(im, -1, dx, borderType=cv2.BORDER_CONSTANT)
    gy = cv2.filter2D(im, -1, dy, borderType=cv2.BORDER_CONSTANT)
    return np.sqrt(gx ** 2 + gy ** 2)


def fsim_from_maps(pc1: np.ndarray, pc2: np.ndarray, g1: np.ndarray, g2: np.ndarray,
                   chroma: np.ndarray | None = None, t1: float = 0.85, t2: float = 160.0
                   ) -> float:
    """FSIM's pooling: sum(S_PC * S_G [* chroma] * PCm) / sum(PCm)."""
    s_pc = (2 * pc1 * pc2 + t1) / (pc1 ** 2 + pc2 ** 2 + t1)
    s_g = (2 * g1 * g2 + t2) / (g1 ** 2 + g2 ** 2 + t2)
    pcm = np.maximum(pc1, pc2)
    sim = s_pc * s_g * pcm
    if chroma is not None:
        sim = sim * chroma
    den = pcm.sum()
    return float(sim.sum() / den) if den > 0 else 1.0


def _downsample(x: np.ndarray, f: int) -> np.ndarray:
    """FSIM.m's `conv2(x, fspecial('average', F), 'same')` then every F-th pixel. MATLAB's
    'same' window for an even F starts at the pixel itself (F=2: [m, m+1]); filter2D's
    default anchor is the kernel centre, one pixel earlier for even F, so it is set."""
    if f <= 1:
        return x
    k = np.ones((f, f)) / (f * f)
    a = (f - 1) // 2
    ave = cv2.filter2D(x, -1, k, anchor=(a, a), borderType=cv2.BORDER_CONSTANT)
    return ave[::f, ::f]


def fsim_both(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(FSIM, FSIMc) sharing one phase-congruency computation per image."""
    a, b = _check(a, b)
    f = max(1, round(min(a.shape[:2]) / 256))
    y1, y2 = _downsample(to_gray(a), f), _downsample(to_gray(b), f)
    pc1, pc2 = phase_congruency(y1), phase_congruency(y2)
    g1, g2 = gradient_magnitude(y1), gradient_magnitude(y2)
    grey = fsim_from_maps(pc1, pc2, g1, g2)
    if a.ndim != 3:
        return grey, grey
    iq = np.array([[0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
    i1, q1 = (_downsample(a @ iq[j], f) for j in range(2))
    i2, q2 = (_downsample(b @ iq[j], f) for j in range(2))
    s_i = (2 * i1 * i2 + 200) / (i1 ** 2 + i2 ** 2 + 200)
    s_q = (2 * q1 * q2 + 200) / (q1 ** 2 + q2 ** 2 + 200)
    # real((S_I S_Q)^lambda) as in FSIM.m: a negative product gives a complex power.
    chroma = np.real(np.power((s_i * s_q).astype(np.complex128), 0.03))
    return grey, fsim_from_maps(pc1, pc2, g1, g2, chroma)


def fsim(a: np.ndarray, b: np.ndarray) -> float:
    """FSIM on the luma (the grey figure)."""
    return fsim_both(a, b)[0]


def fsim_colour(a: np.ndarray, b: np.ndarray) -> float:
    """FSIMc (luma features plus YIQ chrominance similarity); needs RGB."""
    if np.asarray(a).ndim != 3:
        raise ValueError("FSIMc needs RGB images")
    return fsim_both(a, b)[1]


def all_metrics(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """Every figure for one RGB pair, keyed as in the evaluation report."""
    f, fc = fsim_both(pred, true)
    return {"fsim": f, "fsim_colour": fc,
            "ssim": ssim(pred, true), "ssim_colour": ssim_colour(pred, true),
            "pearson_r": pearson_gray(pred, true), "pearson_r_colour": pearson_colour(pred, true)}
