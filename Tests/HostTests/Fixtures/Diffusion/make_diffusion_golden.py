#!/usr/bin/env python3
"""Golden fixtures for DiT's Gaussian diffusion, in float64 numpy, written from the upstream math.

    python3 make_diffusion_golden.py     # needs only numpy (2.4 wrote the committed files); no torch

An independent reimplementation of facebookresearch/DiT `diffusion/gaussian_diffusion.py`,
`diffusion/diffusion_utils.py` and `diffusion/respace.py` for the configuration `create_diffusion` builds
by default: linear betas 1e-4..0.02 over 1000 steps, EPSILON mean, LEARNED_RANGE variance, LossType.MSE
(mse + vb, vb not rescaled). Written from the upstream source, not from the Swift code under test.
Deterministic (np.random.default_rng with a fixed seed). See README.md for the file list.
"""
import math
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
T_STEPS = 1000


def path(name):
    return os.path.join(HERE, name)


class Schedule:
    """The float64 tables of GaussianDiffusion.__init__."""

    def __init__(self, betas):
        betas = np.array(betas, dtype=np.float64)
        assert betas.ndim == 1 and (betas > 0).all() and (betas <= 1).all()
        self.betas = betas
        self.num_timesteps = betas.shape[0]
        alphas = 1.0 - betas
        self.alphas_cumprod = np.cumprod(alphas, axis=0)
        self.alphas_cumprod_prev = np.append(1.0, self.alphas_cumprod[:-1])
        self.sqrt_alphas_cumprod = np.sqrt(self.alphas_cumprod)
        self.sqrt_one_minus_alphas_cumprod = np.sqrt(1.0 - self.alphas_cumprod)
        self.sqrt_recip_alphas_cumprod = np.sqrt(1.0 / self.alphas_cumprod)
        self.sqrt_recipm1_alphas_cumprod = np.sqrt(1.0 / self.alphas_cumprod - 1)
        self.posterior_variance = betas * (1.0 - self.alphas_cumprod_prev) / (1.0 - self.alphas_cumprod)
        # log clipped: the posterior variance is 0 at t = 0, so entry 0 repeats entry 1
        self.posterior_log_variance_clipped = np.log(np.append(self.posterior_variance[1], self.posterior_variance[1:]))
        self.posterior_mean_coef1 = betas * np.sqrt(self.alphas_cumprod_prev) / (1.0 - self.alphas_cumprod)
        self.posterior_mean_coef2 = (1.0 - self.alphas_cumprod_prev) * np.sqrt(alphas) / (1.0 - self.alphas_cumprod)


def extract(arr, t, shape):
    """_extract_into_tensor: arr[t] broadcast over the non-batch dimensions."""
    out = np.asarray(arr, dtype=np.float64)[np.asarray(t)]
    return out.reshape((-1,) + (1,) * (len(shape) - 1)) * np.ones(shape)


def linear_betas(n):
    scale = 1000 / n
    return np.linspace(scale * 0.0001, scale * 0.02, n, dtype=np.float64)


def q_sample(s, x0, t, noise):
    return extract(s.sqrt_alphas_cumprod, t, x0.shape) * x0 + extract(s.sqrt_one_minus_alphas_cumprod, t, x0.shape) * noise


def q_posterior_mean_variance(s, x0, xt, t):
    mean = extract(s.posterior_mean_coef1, t, xt.shape) * x0 + extract(s.posterior_mean_coef2, t, xt.shape) * xt
    var = extract(s.posterior_variance, t, xt.shape)
    logvar = extract(s.posterior_log_variance_clipped, t, xt.shape)
    return mean, var, logvar


def p_mean_variance(s, model_output, x, t, clip_denoised):
    B, C = x.shape[:2]
    assert model_output.shape == (B, 2 * C) + x.shape[2:]
    eps, var_values = model_output[:, :C], model_output[:, C:]
    min_log = extract(s.posterior_log_variance_clipped, t, x.shape)
    max_log = extract(np.log(s.betas), t, x.shape)
    frac = (var_values + 1) / 2  # [-1, 1] -> [min_var, max_var]
    log_var = frac * max_log + (1 - frac) * min_log
    pred_xstart = extract(s.sqrt_recip_alphas_cumprod, t, x.shape) * x - extract(s.sqrt_recipm1_alphas_cumprod, t, x.shape) * eps
    if clip_denoised:
        pred_xstart = np.clip(pred_xstart, -1, 1)
    mean, _, _ = q_posterior_mean_variance(s, pred_xstart, x, t)
    return {"mean": mean, "variance": np.exp(log_var), "log_variance": log_var, "pred_xstart": pred_xstart}


def normal_kl(mean1, logvar1, mean2, logvar2):
    return 0.5 * (-1.0 + logvar2 - logvar1 + np.exp(logvar1 - logvar2) + ((mean1 - mean2) ** 2) * np.exp(-logvar2))


def approx_standard_normal_cdf(x):
    return 0.5 * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * np.power(x, 3))))


def discretized_gaussian_log_likelihood(x, means, log_scales):
    assert x.shape == means.shape == log_scales.shape
    centered = x - means
    inv_stdv = np.exp(-log_scales)
    cdf_plus = approx_standard_normal_cdf(inv_stdv * (centered + 1.0 / 255.0))
    cdf_min = approx_standard_normal_cdf(inv_stdv * (centered - 1.0 / 255.0))
    log_cdf_plus = np.log(np.maximum(cdf_plus, 1e-12))
    log_one_minus_cdf_min = np.log(np.maximum(1.0 - cdf_min, 1e-12))
    cdf_delta = cdf_plus - cdf_min
    return np.where(x < -0.999, log_cdf_plus,
                    np.where(x > 0.999, log_one_minus_cdf_min, np.log(np.maximum(cdf_delta, 1e-12))))


def mean_flat(a):
    return a.reshape(a.shape[0], -1).mean(axis=1)


def vb_terms_bpd(s, model_output, x0, xt, t):
    """_vb_terms_bpd with clip_denoised=False (as training_losses calls it)."""
    true_mean, _, true_logvar = q_posterior_mean_variance(s, x0, xt, t)
    out = p_mean_variance(s, model_output, xt, t, clip_denoised=False)
    kl = mean_flat(normal_kl(true_mean, true_logvar, out["mean"], out["log_variance"])) / np.log(2.0)
    nll = -discretized_gaussian_log_likelihood(x0, out["mean"], 0.5 * out["log_variance"])
    nll = mean_flat(nll) / np.log(2.0)
    return np.where(np.asarray(t) == 0, nll, kl)


def training_losses(s, model_output, x0, t, noise):
    """LossType.MSE + LEARNED_RANGE + EPSILON: loss = mse(noise, eps) + vb (vb through the frozen eps)."""
    xt = q_sample(s, x0, t, noise)
    C = x0.shape[1]
    vb = vb_terms_bpd(s, model_output, x0, xt, t)
    mse = mean_flat((noise - model_output[:, :C]) ** 2)
    return xt, mse, vb, mse + vb


def ddim_sample_eta0(s, model_output, x, t, clip_denoised):
    out = p_mean_variance(s, model_output, x, t, clip_denoised)
    eps = (extract(s.sqrt_recip_alphas_cumprod, t, x.shape) * x - out["pred_xstart"]) / extract(s.sqrt_recipm1_alphas_cumprod, t, x.shape)
    ab_prev = extract(s.alphas_cumprod_prev, t, x.shape)
    sigma = 0.0  # eta = 0
    return out["pred_xstart"] * np.sqrt(ab_prev) + np.sqrt(1 - ab_prev - sigma**2) * eps


def space_timesteps(num_timesteps, section_counts):
    """respace.space_timesteps, including Python's round (half to even) on the accumulated float index."""
    if isinstance(section_counts, str):
        if section_counts.startswith("ddim"):
            desired = int(section_counts[len("ddim"):])
            for i in range(1, num_timesteps):
                if len(range(0, num_timesteps, i)) == desired:
                    return set(range(0, num_timesteps, i))
            raise ValueError(f"cannot create exactly {num_timesteps} steps with an integer stride")
        section_counts = [int(x) for x in section_counts.split(",")]
    size_per = num_timesteps // len(section_counts)
    extra = num_timesteps % len(section_counts)
    start_idx = 0
    all_steps = []
    for i, count in enumerate(section_counts):
        size = size_per + (1 if i < extra else 0)
        if size < count:
            raise ValueError(f"cannot divide section of {size} steps into {count}")
        frac_stride = 1 if count <= 1 else (size - 1) / (count - 1)
        cur = 0.0
        for _ in range(count):
            all_steps.append(start_idx + round(cur))
            cur += frac_stride
        start_idx += size
    return set(all_steps)


def respaced_betas(base, use_timesteps):
    """SpacedDiffusion.__init__: new betas from the kept steps' alphas_cumprod."""
    last = 1.0
    new = []
    for i, ac in enumerate(base.alphas_cumprod):
        if i in use_timesteps:
            new.append(1 - ac / last)
            last = ac
    return np.array(new, dtype=np.float64)


def main():
    rng = np.random.default_rng(7031)
    s = Schedule(linear_betas(T_STEPS))
    shape = (4, 3, 4, 4)
    # x0 on the uint8 grid rescaled to [-1, 1] (what the discretized likelihood assumes); sample 0 (t = 0)
    # gets both edge values so the x < -0.999 and x > 0.999 branches are exercised.
    x0 = rng.integers(0, 256, size=shape).astype(np.float64) / 127.5 - 1.0
    x0[0, 0, 0, 0] = -1.0
    x0[0, 1, 2, 3] = 1.0
    x0[0, 2, 3, 3] = -1.0
    noise = rng.standard_normal(shape)
    t = np.array([0, 1, 500, 999], dtype="<i8")
    eps_part = rng.standard_normal(shape)
    v_part = rng.uniform(-1.0, 1.0, size=shape)
    model_output = np.concatenate([eps_part, v_part], axis=1)

    xt, mse, vb, loss = training_losses(s, model_output, x0, t, noise)
    pmv = p_mean_variance(s, model_output, xt, t, clip_denoised=False)
    ddim_prev = ddim_sample_eta0(s, model_output, xt, t, clip_denoised=False)

    space_250 = np.array(sorted(space_timesteps(T_STEPS, "250")), dtype="<i8")
    space_ddim50 = np.array(sorted(space_timesteps(T_STEPS, "ddim50")), dtype="<i8")
    betas_250 = respaced_betas(s, set(space_250.tolist()))

    # --- self-checks -------------------------------------------------------------------------------------
    assert abs(s.betas[0] - 1e-4) < 1e-18 and abs(s.betas[-1] - 0.02) < 1e-18
    assert np.all(np.isfinite(vb)) and np.all(vb >= 0)
    # t = 0: DDIM with alpha_bar_prev = 1 returns pred_xstart
    assert np.allclose(ddim_prev[0], pmv["pred_xstart"][0], rtol=0, atol=1e-12)
    # LEARNED_RANGE at v = +-1 gives log(beta) / clipped posterior log variance
    e = p_mean_variance(s, np.concatenate([eps_part, np.ones(shape)], axis=1), xt, t, False)["log_variance"]
    assert np.allclose(e[:, 0, 0, 0], np.log(s.betas[t]))
    # respacing: a chain of all 1000 steps gives back the original betas; the ddim50 set is stride 20
    assert np.allclose(respaced_betas(s, set(range(T_STEPS))), s.betas, rtol=1e-12, atol=0)
    assert np.array_equal(space_ddim50, np.arange(0, 1000, 20))
    assert len(space_250) == 250 and space_250[0] == 0 and space_250[-1] == 999
    # the respaced chain keeps the same cumulative product at the kept steps
    assert np.allclose(np.cumprod(1 - betas_250), s.alphas_cumprod[space_250], rtol=1e-12, atol=0)
    # a scalar re-derivation of one decoder NLL term (t = 0) and one KL term (t = 500)
    def scalar_nll(x, m, lv):
        inv = math.exp(-0.5 * lv)
        cdf = lambda z: 0.5 * (1.0 + math.tanh(math.sqrt(2.0 / math.pi) * (z + 0.044715 * z**3)))
        up, lo = cdf(inv * (x - m + 1 / 255)), cdf(inv * (x - m - 1 / 255))
        if x < -0.999:
            return -math.log(max(up, 1e-12))
        if x > 0.999:
            return -math.log(max(1 - lo, 1e-12))
        return -math.log(max(up - lo, 1e-12))
    acc = 0.0
    for c in range(3):
        for i in range(4):
            for j in range(4):
                acc += scalar_nll(x0[0, c, i, j], pmv["mean"][0, c, i, j], pmv["log_variance"][0, c, i, j])
    assert abs(acc / 48 / math.log(2) - vb[0]) < 1e-12 * max(1.0, abs(vb[0]))

    # --- write -------------------------------------------------------------------------------------------
    np.save(path("x0.npy"), x0.astype("<f8"))
    np.save(path("noise.npy"), noise.astype("<f8"))
    np.save(path("t.npy"), t)
    np.save(path("model_output.npy"), model_output.astype("<f8"))
    np.save(path("x_t.npy"), xt.astype("<f8"))
    np.save(path("mse.npy"), mse.astype("<f8"))
    np.save(path("vb.npy"), vb.astype("<f8"))
    np.save(path("loss.npy"), loss.astype("<f8"))
    np.save(path("model_mean.npy"), pmv["mean"].astype("<f8"))
    np.save(path("model_log_variance.npy"), pmv["log_variance"].astype("<f8"))
    np.save(path("pred_xstart.npy"), pmv["pred_xstart"].astype("<f8"))
    np.save(path("ddim_prev.npy"), ddim_prev.astype("<f8"))
    np.save(path("space_250.npy"), space_250)
    np.save(path("space_ddim50.npy"), space_ddim50)
    np.save(path("betas_250.npy"), betas_250.astype("<f8"))

    print("mse", mse)
    print("vb ", vb)
    print("loss", loss)
    print("space_250[:8]", space_250[:8], "... betas_250[:3]", betas_250[:3], "betas_250[-1]", betas_250[-1])


if __name__ == "__main__":
    main()
