"""PyTorch CPU eager peers of `zoo bench`: the same workloads, the same entry names.

Run through scripts/bench-peers (which makes the virtual environment and sets the thread variables); see its
header for usage. Every model and operator here is written out in plain torch from its upstream definition:

- DiT: facebookresearch/DiT `models.py` (timm PatchEmbed, Attention, Mlp inlined), learn_sigma.
- mha: timm `Attention` (fused qkv Linear with bias, F.scaled_dot_product_attention, proj).
- swa: the same projections, SDPA with a dense boolean band mask |i - j| <= 4 (flash-attn window (4, 4)).
- hyena_x: keshik6/grafting `src/operators/hyena/hyena_x.py` (`Hyena_X`), causal_conv1d_fn replaced by a
  depthwise nn.Conv1d with padding k-1 and the first L outputs kept (the same causal convolution).
- mamba2: state-spaces/mamba `Mamba2` (in_proj, causal depthwise conv1d + SiLU on xBC, dt softplus with dt_bias,
  A = -exp(A_log), D skip, gated RMSNorm with norm_before_gate=False, out_proj) around `ssd_minimal_discrete` of
  `mamba_ssm/modules/ssd_minimal.py` (einops rearranges written as reshapes/permutes).

Timing follows zoo's `Timing.measure`: one warm-up run, then `repeats` timed runs; median is the sorted list's
element at index repeats // 2 (zoo's convention), with min and max, in seconds.
"""

import argparse
import datetime
import json
import math
import os
import platform
import sys
import time


# The operators the operators suite can time, in zoo's ids.
OPERATOR_IDS = ("mha", "swa", "hyena_x", "hyena_se", "hyena_y", "mlp_hyena_x", "mamba2")


def parse_args(argv):
    p = argparse.ArgumentParser(description="PyTorch CPU eager peers of zoo bench (see scripts/bench-peers).")
    p.add_argument("--json", metavar="OUT", help="write the JSON report here")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--suites", default="dit,train,operators,xl", help="any of dit, train, operators, xl")
    p.add_argument("--lengths", default="256,1024,4096")
    p.add_argument("--batch", type=int, default=8, help="batch of the dit suite")
    p.add_argument("--train-batches", default="8,32", help="batches of the train suite")
    p.add_argument("--operators", default=",".join(OPERATOR_IDS), help="operators of the operators suite")
    a = p.parse_args(argv)
    a.suites = [s.strip() for s in a.suites.split(",") if s.strip()]
    unknown = [s for s in a.suites if s not in ("dit", "train", "operators", "xl")]
    if unknown:
        p.error("unknown suite(s): " + ", ".join(unknown))
    a.operators = [s.strip() for s in a.operators.split(",") if s.strip()]
    unknown = [s for s in a.operators if s not in OPERATOR_IDS]
    if unknown:
        p.error("unknown operator(s): " + ", ".join(unknown) + "; known: " + ", ".join(OPERATOR_IDS))
    a.lengths = [int(x) for x in a.lengths.split(",") if x.strip()]
    a.train_batches = [int(x) for x in a.train_batches.split(",") if x.strip()]
    if a.threads < 1 or a.repeats < 1 or a.batch < 1 or any(x < 1 for x in a.lengths + a.train_batches):
        p.error("--threads, --repeats, --batch, --lengths and --train-batches must be positive")
    return a


ARGS = parse_args(sys.argv[1:])
# Before torch is imported, so that its OpenMP and MKL pools start at this size.
os.environ["OMP_NUM_THREADS"] = str(ARGS.threads)
os.environ["MKL_NUM_THREADS"] = str(ARGS.threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.set_num_threads(ARGS.threads)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------------------------
# Timing


def measure(body, repeats, setup=None, warmup=1):
    """zoo's Timing.measure: `warmup` unmeasured runs, then `repeats` timed ones (setup() runs untimed before each)."""
    for _ in range(warmup):
        if setup is not None:
            setup()
        body()
    times = []
    for _ in range(max(1, repeats)):
        if setup is not None:
            setup()
        start = time.perf_counter()
        body()
        times.append(time.perf_counter() - start)
    times.sort()
    return {"median": times[len(times) // 2], "min": times[0], "max": times[-1], "repeats": len(times)}


def entry(suite, name, timing, **notes):
    return {"suite": suite, "name": name, "timing": timing, "notes": {k: str(v) for k, v in notes.items()}}


def fmt_s(x):
    return f"{x:.6f}"


# ----------------------------------------------------------------------------------------------------------------
# DiT (facebookresearch/DiT models.py, timm layers inlined)


def modulate(x, shift, scale):
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


class Attention(nn.Module):
    """timm.models.vision_transformer.Attention (qk_norm off, no dropout): the `mha` operator."""

    def __init__(self, dim, num_heads, qkv_bias=True):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, attn_mask=None):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        x = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        x = x.transpose(1, 2).reshape(B, N, C)
        return self.proj(x)


class Mlp(nn.Module):
    """timm Mlp with GELU(tanh), as DiTBlock builds it."""

    def __init__(self, in_features, hidden_features):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = nn.GELU(approximate="tanh")
        self.fc2 = nn.Linear(hidden_features, in_features)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class PatchEmbed(nn.Module):
    """timm PatchEmbed: a stride-p convolution, flattened to (N, T, D)."""

    def __init__(self, img_size, patch_size, in_chans, embed_dim):
        super().__init__()
        self.patch_size = patch_size
        self.num_patches = (img_size // patch_size) ** 2
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size, bias=True)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class TimestepEmbedder(nn.Module):
    def __init__(self, hidden_size, frequency_embedding_size=256):
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(frequency_embedding_size, hidden_size, bias=True),
            nn.SiLU(),
            nn.Linear(hidden_size, hidden_size, bias=True),
        )
        self.frequency_embedding_size = frequency_embedding_size

    @staticmethod
    def timestep_embedding(t, dim, max_period=10000):
        half = dim // 2
        freqs = torch.exp(-math.log(max_period) * torch.arange(start=0, end=half, dtype=torch.float32) / half)
        args = t[:, None].float() * freqs[None]
        embedding = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
        if dim % 2:
            embedding = torch.cat([embedding, torch.zeros_like(embedding[:, :1])], dim=-1)
        return embedding

    def forward(self, t):
        return self.mlp(self.timestep_embedding(t, self.frequency_embedding_size))


class LabelEmbedder(nn.Module):
    def __init__(self, num_classes, hidden_size, dropout_prob):
        super().__init__()
        use_cfg_embedding = dropout_prob > 0
        self.embedding_table = nn.Embedding(num_classes + use_cfg_embedding, hidden_size)
        self.num_classes = num_classes
        self.dropout_prob = dropout_prob

    def token_drop(self, labels):
        drop_ids = torch.rand(labels.shape[0]) < self.dropout_prob
        return torch.where(drop_ids, self.num_classes, labels)

    def forward(self, labels, train):
        if train and self.dropout_prob > 0:
            labels = self.token_drop(labels)
        return self.embedding_table(labels)


class DiTBlock(nn.Module):
    def __init__(self, hidden_size, num_heads, mlp_ratio=4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(hidden_size, num_heads=num_heads, qkv_bias=True)
        self.norm2 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(hidden_size, int(hidden_size * mlp_ratio))
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden_size, 6 * hidden_size, bias=True))

    def forward(self, x, c):
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = self.adaLN_modulation(c).chunk(6, dim=1)
        x = x + gate_msa.unsqueeze(1) * self.attn(modulate(self.norm1(x), shift_msa, scale_msa))
        x = x + gate_mlp.unsqueeze(1) * self.mlp(modulate(self.norm2(x), shift_mlp, scale_mlp))
        return x


class FinalLayer(nn.Module):
    def __init__(self, hidden_size, patch_size, out_channels):
        super().__init__()
        self.norm_final = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(hidden_size, patch_size * patch_size * out_channels, bias=True)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden_size, 2 * hidden_size, bias=True))

    def forward(self, x, c):
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=1)
        return self.linear(modulate(self.norm_final(x), shift, scale))


def get_1d_sincos_pos_embed_from_grid(embed_dim, pos):
    omega = np.arange(embed_dim // 2, dtype=np.float64)
    omega /= embed_dim / 2.0
    omega = 1.0 / 10000**omega
    out = np.einsum("m,d->md", pos.reshape(-1), omega)
    return np.concatenate([np.sin(out), np.cos(out)], axis=1)


def get_2d_sincos_pos_embed(embed_dim, grid_size):
    grid_h = np.arange(grid_size, dtype=np.float32)
    grid_w = np.arange(grid_size, dtype=np.float32)
    grid = np.stack(np.meshgrid(grid_w, grid_h), axis=0).reshape([2, 1, grid_size, grid_size])
    emb_h = get_1d_sincos_pos_embed_from_grid(embed_dim // 2, grid[0])
    emb_w = get_1d_sincos_pos_embed_from_grid(embed_dim // 2, grid[1])
    return np.concatenate([emb_h, emb_w], axis=1)


class DiT(nn.Module):
    def __init__(self, input_size=32, patch_size=2, in_channels=4, hidden_size=1152, depth=28, num_heads=16,
                 mlp_ratio=4.0, class_dropout_prob=0.1, num_classes=1000, learn_sigma=True):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = in_channels * 2 if learn_sigma else in_channels
        self.patch_size = patch_size
        self.x_embedder = PatchEmbed(input_size, patch_size, in_channels, hidden_size)
        self.t_embedder = TimestepEmbedder(hidden_size)
        self.y_embedder = LabelEmbedder(num_classes, hidden_size, class_dropout_prob)
        num_patches = self.x_embedder.num_patches
        self.pos_embed = nn.Parameter(torch.zeros(1, num_patches, hidden_size), requires_grad=False)
        self.blocks = nn.ModuleList([DiTBlock(hidden_size, num_heads, mlp_ratio=mlp_ratio) for _ in range(depth)])
        self.final_layer = FinalLayer(hidden_size, patch_size, self.out_channels)
        self.initialize_weights()

    def initialize_weights(self):
        # Upstream's initialisation, except that the adaLN and output layers are NOT zeroed: the benchmark wants
        # random weights that carry signal through every path (the cost of the dense products is the same).
        def _basic_init(module):
            if isinstance(module, nn.Linear):
                torch.nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.normal_(module.bias, std=0.02)
        self.apply(_basic_init)
        pos_embed = get_2d_sincos_pos_embed(self.pos_embed.shape[-1], int(self.x_embedder.num_patches**0.5))
        self.pos_embed.data.copy_(torch.from_numpy(pos_embed).float().unsqueeze(0))
        w = self.x_embedder.proj.weight.data
        nn.init.xavier_uniform_(w.view([w.shape[0], -1]))
        nn.init.normal_(self.y_embedder.embedding_table.weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[0].weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[2].weight, std=0.02)

    def unpatchify(self, x):
        c = self.out_channels
        p = self.patch_size
        h = w = int(x.shape[1] ** 0.5)
        assert h * w == x.shape[1]
        x = x.reshape(shape=(x.shape[0], h, w, p, p, c))
        x = torch.einsum("nhwpqc->nchpwq", x)
        return x.reshape(shape=(x.shape[0], c, h * p, h * p))

    def forward(self, x, t, y):
        x = self.x_embedder(x) + self.pos_embed
        t = self.t_embedder(t)
        y = self.y_embedder(y, self.training)
        c = t + y
        for block in self.blocks:
            x = block(x, c)
        x = self.final_layer(x, c)
        return self.unpatchify(x)


# The configurations zoo bench runs (names as zoo builds them: "<depth>x<hidden> p<patch> T=<tokens>").
DIT_S2 = dict(depth=12, hidden_size=384, num_heads=6, patch_size=2, input_size=32, in_channels=4, num_classes=1000)
DIT_XL2 = dict(depth=28, hidden_size=1152, num_heads=16, patch_size=2, input_size=32, in_channels=4, num_classes=1000)
EMBEDDED = dict(depth=6, hidden_size=128, num_heads=4, patch_size=2, input_size=32, in_channels=3, num_classes=11,
                class_dropout_prob=0.1)


def tokens_of(cfg):
    return (cfg["input_size"] // cfg["patch_size"]) ** 2


def count_params(model):
    return sum(p.numel() for p in model.parameters())


def dit_inputs(cfg, batch, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, cfg["in_channels"], cfg["input_size"], cfg["input_size"], generator=g)
    # zoo's dit suite: t_i = i * 997 mod 1000, y_i = i mod numClasses.
    t = torch.tensor([float(i * 997 % 1000) for i in range(batch)])
    y = torch.tensor([i % cfg["num_classes"] for i in range(batch)], dtype=torch.long)
    return x, t, y


def dit_forward(cfg, batch, repeats, label):
    """A DiT of configuration cfg with random weights, its inputs, entry name and timed no-grad forward."""
    torch.manual_seed(0)
    model = DiT(**cfg).eval()
    x, t, y = dit_inputs(cfg, batch, seed=3)
    name = f"{cfg['depth']}x{cfg['hidden_size']} p{cfg['patch_size']} T={tokens_of(cfg)} batch {batch}"

    def forward():
        with torch.no_grad():
            model(x, t, y)

    log(f"{label}: forward {name}")
    fwd = measure(forward, repeats)
    return model, (x, t, y), name, fwd


def suite_dit(batch, repeats):
    cfg = DIT_S2
    model, (x, t, y), name, fwd = dit_forward(cfg, batch, repeats, "dit")
    g = torch.Generator().manual_seed(4)
    dy = torch.randn(batch, model.out_channels, cfg["input_size"], cfg["input_size"], generator=g)

    def zero():
        model.zero_grad(set_to_none=True)

    def both():
        out = model(x, t, y)
        (out * dy).sum().backward()

    log(f"dit: forward+backward {name}")
    fb = measure(both, repeats, setup=zero)
    common = dict(parameters=count_params(model), grad_mode_forward="torch.no_grad()")
    return [
        entry("dit", f"forward {name}", fwd, **common),
        entry("dit", f"forward+backward {name}", fb, parameters=count_params(model),
              backward_over_forward=f"{(fb['median'] - fwd['median']) / fwd['median']:.2f}",
              loss="(out * dy).sum() with a fixed random dy"),
    ]


def suite_xl(repeats):
    log("xl: building DiT-XL/2 (675M parameters, random weights)")
    model, _, name, fwd = dit_forward(DIT_XL2, 1, repeats, "xl")
    return [entry("dit", f"forward {name}", fwd, parameters=count_params(model), grad_mode_forward="torch.no_grad()")]


# ----------------------------------------------------------------------------------------------------------------
# Training: one pretraining step of the embedded model (DiT's diffusion loss, eps MSE only)


class PretrainStep:
    def __init__(self, cfg, batch, seed=0):
        torch.manual_seed(seed)
        self.cfg = cfg
        self.batch = batch
        self.model = DiT(**cfg).train()
        self.ema = {n: p.detach().clone() for n, p in self.model.named_parameters()}
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=1e-4, weight_decay=0)
        betas = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)
        abar = torch.cumprod(1.0 - betas, dim=0)
        self.sqrt_abar = abar.sqrt().float()
        self.sqrt_one_minus_abar = (1.0 - abar).sqrt().float()
        g = torch.Generator().manual_seed(seed + 1)
        s = cfg["input_size"]
        # A small pool of random "images" in [-1, 1] with labels; each step draws a batch from it.
        pool = 4 * batch
        self.images = torch.rand(pool, cfg["in_channels"], s, s, generator=g) * 2 - 1
        self.labels = torch.randint(0, cfg["num_classes"], (pool,), generator=g)

    def step(self):
        idx = torch.randint(0, self.images.shape[0], (self.batch,))
        x0, y = self.images[idx], self.labels[idx]
        t = torch.randint(0, 1000, (self.batch,))
        noise = torch.randn_like(x0)
        a = self.sqrt_abar[t].view(-1, 1, 1, 1)
        b = self.sqrt_one_minus_abar[t].view(-1, 1, 1, 1)
        x_t = a * x0 + b * noise
        out = self.model(x_t, t, y)
        eps = out[:, : self.cfg["in_channels"]]
        loss = F.mse_loss(eps, noise)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.opt.step()
        # DiT's update_ema.
        with torch.no_grad():
            for n, p in self.model.named_parameters():
                self.ema[n].mul_(0.9999).add_(p.data, alpha=1 - 0.9999)
        return loss


def suite_train(batches, repeats):
    cfg = EMBEDDED
    out = []
    for batch in batches:
        name = f"pretraining step {cfg['depth']}x{cfg['hidden_size']} T={tokens_of(cfg)} batch {batch}"
        log(f"train: {name}")
        trainer = PretrainStep(cfg, batch)
        timing = measure(trainer.step, repeats)
        out.append(entry(
            "train", name, timing,
            images_per_second=f"{batch / timing['median']:.1f}",
            parameters=count_params(trainer.model),
            step="forward, eps MSE, backward, clip_grad_norm_ 1.0, AdamW lr 1e-4 wd 0, EMA 0.9999",
        ))
    return out


# ----------------------------------------------------------------------------------------------------------------
# Operators at D = 384, batch 1


class SWA(nn.Module):
    """Sliding-window attention (window (4, 4)) as a PyTorch user writes it: timm projections, SDPA with a dense
    boolean band mask (True = attend), built once per length."""

    def __init__(self, dim, num_heads, window=(4, 4)):
        super().__init__()
        self.attn = Attention(dim, num_heads, qkv_bias=True)
        self.window = window
        self._masks = {}

    def mask(self, L):
        if L not in self._masks:
            i = torch.arange(L)
            d = i[None, :] - i[:, None]  # j - i
            self._masks[L] = (d >= -self.window[0]) & (d <= self.window[1])
        return self._masks[L]

    def forward(self, x):
        return self.attn(x, attn_mask=self.mask(x.shape[1]))


class HyenaX(nn.Module):
    """keshik6/grafting Hyena_X (order 2, inner_factor 1, short_filter_order 4)."""

    def __init__(self, d_model, short_filter_order=4, order=2):
        super().__init__()
        self.d_model = d_model
        self.in_proj = nn.Linear(d_model, (order + 1) * d_model)
        self.out_proj = nn.Linear(d_model, d_model)
        width = d_model * (order + 1)
        self.short_filter = nn.Conv1d(width, width, kernel_size=short_filter_order, groups=width,
                                      padding=short_filter_order - 1)

    def forward(self, u):
        L = u.size(-2)
        u = self.in_proj(u).transpose(1, 2)
        uc = self.short_filter(u)[..., :L]  # causal: the first L outputs of the (k-1)-padded convolution
        q, k, v = uc.split(self.d_model, dim=1)
        v = k * v
        y = q * v
        return self.out_proj(y.transpose(1, 2))


def causal_depthwise(channels, taps):
    """causal_conv1d_fn as PyTorch writes it: a depthwise Conv1d padded by taps - 1, cut to the first L outputs."""
    return nn.Conv1d(channels, channels, kernel_size=taps, groups=channels, padding=taps - 1)


class HyenaInner(nn.Module):
    """keshik6/grafting Hyena_SE (short filter, then inner filter of short_filter_order taps) or Hyena_Y (no short
    filter, inner filter of inner_filter_len taps): y = out_proj(q * CC(k * v; inner))."""

    def __init__(self, d_model, short_filter_order=4, inner_filter_len=4, variant="se"):
        super().__init__()
        self.d_model = d_model
        self.in_proj = nn.Linear(d_model, 3 * d_model)
        self.out_proj = nn.Linear(d_model, d_model)
        self.short_filter = causal_depthwise(3 * d_model, short_filter_order) if variant == "se" else None
        self.inner_filter = causal_depthwise(d_model, short_filter_order if variant == "se" else inner_filter_len)

    def forward(self, u):
        L = u.size(-2)
        u = self.in_proj(u).transpose(1, 2)
        if self.short_filter is not None:
            u = self.short_filter(u)[..., :L]
        q, k, v = u.split(self.d_model, dim=1)
        kv = self.inner_filter(k * v)[..., :L]
        return self.out_proj((q * kv).transpose(1, 2))


class MLPHyenaX(nn.Module):
    """keshik6/grafting MLP_Hyena_X: in_proj to 3 Hh, the causal conv applied to the (B, L, 3Hh) tensor untransposed
    (token positions are the channels, the conv slides along the features), q * (k * v), out_proj."""

    def __init__(self, d_model, l_max, expansion_ratio=2, short_filter_order=4):
        super().__init__()
        self.hidden = expansion_ratio * d_model
        self.in_proj = nn.Linear(d_model, 3 * self.hidden)
        self.out_proj = nn.Linear(self.hidden, d_model)
        self.short_filter = causal_depthwise(l_max, short_filter_order)

    def forward(self, x):
        u = self.in_proj(x)
        uc = self.short_filter(u)[..., : u.size(-1)]
        q, k, v = uc.split(self.hidden, dim=-1)
        return self.out_proj(q * (k * v))


def segsum(x):
    """ssd_minimal.segsum (the stable form)."""
    T = x.size(-1)
    x = x.unsqueeze(-1).expand(*x.shape, T)  # repeat "... d -> ... d e"
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool), diagonal=-1)
    x = x.masked_fill(~mask, 0)
    x_segsum = torch.cumsum(x, dim=-2)
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool), diagonal=0)
    return x_segsum.masked_fill(~mask, -torch.inf)


def ssd_minimal_discrete(X, A, B, C, block_len):
    """state-spaces/mamba ssd_minimal_discrete. X (b, L, h, p), A (b, L, h), B and C (b, L, g, n)."""
    b, L, h, p = X.shape
    assert L % block_len == 0
    c = L // block_len
    X = X.reshape(b, c, block_len, h, p)
    B = B.reshape(b, c, block_len, *B.shape[2:])
    C = C.reshape(b, c, block_len, *C.shape[2:])
    A = A.reshape(b, c, block_len, h).permute(0, 3, 1, 2)  # "b c l h -> b h c l"
    A_cumsum = torch.cumsum(A, dim=-1)
    # 1. Intra-chunk output (diagonal blocks).
    Lmat = torch.exp(segsum(A))
    Y_diag = torch.einsum("bclgn,bcsgn,bhcls,bcshp->bclhp", C, B, Lmat, X)
    # 2. Each chunk's state.
    decay_states = torch.exp(A_cumsum[:, :, :, -1:] - A_cumsum)
    states = torch.einsum("bclgn,bhcl,bclhp->bcghpn", B, decay_states, X)
    # 3. Inter-chunk recurrence.
    initial_states = torch.zeros_like(states[:, :1])
    states = torch.cat([initial_states, states], dim=1)
    decay_chunk = torch.exp(segsum(F.pad(A_cumsum[:, :, :, -1], (1, 0))))
    new_states = torch.einsum("bhzc,bcghpn->bzghpn", decay_chunk, states)
    states = new_states[:, :-1]
    # 4. State -> output per chunk.
    state_decay_out = torch.exp(A_cumsum)
    Y_off = torch.einsum("bclgn,bcghpn,bhcl->bclhp", C, states, state_decay_out)
    return (Y_diag + Y_off).reshape(b, L, h, p)


class Mamba2(nn.Module):
    """state-spaces/mamba Mamba2 (grafting configuration: d_state 64, d_conv 4, expand 2, headdim 16, ngroups 1,
    chunk_size 256, rmsnorm, norm_before_gate False, no bias, conv bias), with the minimal SSD."""

    def __init__(self, d_model, d_state=64, d_conv=4, expand=2, headdim=16, ngroups=1, chunk_size=256,
                 dt_min=0.001, dt_max=0.1, dt_init_floor=1e-4, A_init_range=(1, 16), eps=1e-5):
        super().__init__()
        self.d_inner = expand * d_model
        self.headdim = headdim
        self.nheads = self.d_inner // headdim
        self.ngroups = ngroups
        self.d_state = d_state
        self.chunk_size = chunk_size
        self.eps = eps
        d_in_proj = 2 * self.d_inner + 2 * ngroups * d_state + self.nheads
        self.in_proj = nn.Linear(d_model, d_in_proj, bias=False)
        self.conv_dim = self.d_inner + 2 * ngroups * d_state
        self.conv1d = nn.Conv1d(self.conv_dim, self.conv_dim, kernel_size=d_conv, groups=self.conv_dim,
                                padding=d_conv - 1, bias=True)
        dt = torch.exp(torch.rand(self.nheads) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        dt = torch.clamp(dt, min=dt_init_floor)
        self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))
        A = torch.empty(self.nheads).uniform_(*A_init_range)
        self.A_log = nn.Parameter(torch.log(A))
        self.D = nn.Parameter(torch.ones(self.nheads))
        self.norm_weight = nn.Parameter(torch.ones(self.d_inner))
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=False)

    def gated_rmsnorm(self, y, z):
        # rms_norm_ref with z, norm_before_gate=False, group_size = d_inner / ngroups.
        y = y * F.silu(z)
        shape = y.shape
        yg = y.reshape(*shape[:-1], self.ngroups, self.d_inner // self.ngroups)
        rstd = torch.rsqrt(yg.square().mean(dim=-1, keepdim=True) + self.eps)
        return (yg * rstd).reshape(shape) * self.norm_weight

    def forward(self, u):
        batch, L, _ = u.shape
        zxbcdt = self.in_proj(u)
        z, xBC, dt = torch.split(zxbcdt, [self.d_inner, self.conv_dim, self.nheads], dim=-1)
        xBC = F.silu(self.conv1d(xBC.transpose(1, 2))[..., :L].transpose(1, 2))
        x, B, C = torch.split(xBC, [self.d_inner, self.ngroups * self.d_state, self.ngroups * self.d_state], dim=-1)
        dt = F.softplus(dt + self.dt_bias)
        A = -torch.exp(self.A_log)
        x = x.reshape(batch, L, self.nheads, self.headdim)
        B = B.reshape(batch, L, self.ngroups, self.d_state)
        C = C.reshape(batch, L, self.ngroups, self.d_state)
        block = min(self.chunk_size, L)
        pad = (-L) % block
        Xs, As = x * dt.unsqueeze(-1), A * dt
        if pad:  # zero steps at the end: causal, so the first L outputs are unchanged
            Xs = F.pad(Xs, (0, 0, 0, 0, 0, pad))
            As = F.pad(As, (0, 0, 0, pad))
            B = F.pad(B, (0, 0, 0, 0, 0, pad))
            C = F.pad(C, (0, 0, 0, 0, 0, pad))
        y = ssd_minimal_discrete(Xs, As, B, C, block)[:, :L]
        y = y + x * self.D.unsqueeze(-1)
        y = y.reshape(batch, L, self.d_inner)
        return self.out_proj(self.gated_rmsnorm(y, z))


def make_operator(op_id, dim, heads, length):
    if op_id == "mha":
        return Attention(dim, heads, qkv_bias=True), "timm Attention, fused qkv Linear with bias, SDPA"
    if op_id == "swa":
        return SWA(dim, heads, (4, 4)), "timm projections, SDPA with a dense boolean band mask |i-j| <= 4"
    if op_id == "hyena_x":
        return HyenaX(dim), "grafting Hyena_X: in_proj D->3D, causal depthwise Conv1d k=4, q*(k*v), out_proj"
    if op_id == "hyena_se":
        return HyenaInner(dim, variant="se"), "grafting Hyena_SE: in_proj, causal Conv1d k=4, k*v, causal Conv1d k=4, q*, out_proj"
    if op_id == "hyena_y":
        return HyenaInner(dim, variant="y"), "grafting Hyena_Y: in_proj, k*v, causal depthwise Conv1d k=4, q*, out_proj"
    if op_id == "mlp_hyena_x":
        return MLPHyenaX(dim, length), "grafting MLP_Hyena_X: in_proj D->6D, Conv1d over features (L channels), q*k*v"
    if op_id == "mamba2":
        return Mamba2(dim), "Mamba2 block around ssd_minimal_discrete (d_state 64, headdim 16, chunk 256)"
    raise ValueError(op_id)


def suite_operators(lengths, repeats, ids, dim=384, heads=6):
    out = []
    for op_id in ids:
        for L in lengths:
            torch.manual_seed(1)
            op, what = make_operator(op_id, dim, heads, L)
            g = torch.Generator().manual_seed(2)
            x = torch.randn(1, L, dim, generator=g)
            dy = torch.randn(1, L, dim, generator=g)
            xg = x.clone().requires_grad_(True)

            def forward():
                with torch.no_grad():
                    op(x)

            def forward_grad():
                op(xg)

            def zero():
                op.zero_grad(set_to_none=True)
                xg.grad = None

            def both():
                op(xg).backward(dy)

            try:
                fwd = measure(forward, repeats)
                fwd_grad = measure(forward_grad, repeats)
                fb = measure(both, repeats, setup=zero)
            except RuntimeError as e:  # e.g. out of memory at a long length: skipped, said why
                log(f"{op_id} at L={L}: skipped ({e})")
                continue
            # What one training step pays for the operator: the forward that records the graph plus backward(), zoo's
            # train-mode forward plus its backward from the saved activations (`forward+backward` in both reports).
            bwd = fb
            bwd_median = fb["median"]
            params = sum(p.numel() for p in op.parameters())
            out.append(entry("operators", f"{op_id} forward D={dim} L={L}", fwd, implementation=what,
                             parameters=params, grad_mode="torch.no_grad()"))
            out.append(entry(
                "operators", f"{op_id} forward+backward D={dim} L={L}", bwd,
                implementation=what, parameters=params,
                backward="forward with autograd plus backward(), against zoo's train-mode forward plus backward",
                forward_grad_median=fmt_s(fwd_grad["median"]), forward_grad_min=fmt_s(fwd_grad["min"]),
                forward_grad_max=fmt_s(fwd_grad["max"]),
                forward_nograd_median=fmt_s(fwd["median"]),
                backward_over_forward=f"{bwd_median / fwd['median']:.2f}",
                gradients="input and every parameter; output gradient a fixed random tensor",
            ))
            log(f"{op_id} L={L}: forward {fwd['median'] * 1e3:.2f} ms, forward+backward {bwd_median * 1e3:.2f} ms")
            del op
    return out


# ----------------------------------------------------------------------------------------------------------------
# Report


def machine_info():
    cpu, avx512 = None, None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if cpu is None and line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                if avx512 is None and line.startswith("flags"):
                    avx512 = "avx512f" in line.split(":", 1)[1].split()
                if cpu is not None and avx512 is not None:
                    break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "flags_avx512": avx512,
        "mkldnn": torch.backends.mkldnn.is_available(),
    }


def table(report):
    m = report["machine"]
    lines = [
        f"peer: pytorch {report['torch_version']} (CPU eager), {report['threads']} threads; "
        f"machine: {m['cpu']}{' (AVX-512)' if m['flags_avx512'] else ''}, {m['cores']} cores, "
        f"mkldnn {m['mkldnn']}; load average {report['load_average']['start']} (start), "
        f"{report['load_average']['end']} (end)",
        f"{'suite':<10} {'name':<44} {'median ms':>11} {'min ms':>11} {'max ms':>11} {'n':>3}",
    ]
    for e in report["entries"]:
        t = e["timing"]
        lines.append(f"{e['suite']:<10} {e['name']:<44} {t['median'] * 1e3:>11.2f} {t['min'] * 1e3:>11.2f} "
                     f"{t['max'] * 1e3:>11.2f} {t['repeats']:>3}")
    return "\n".join(lines)


def load_average():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return None


def main():
    a = ARGS
    started = time.perf_counter()
    load_start = load_average()
    entries = []
    if "dit" in a.suites:
        entries += suite_dit(a.batch, a.repeats)
    if "xl" in a.suites:
        entries += suite_xl(a.repeats)
    if "train" in a.suites:
        entries += suite_train(a.train_batches, a.repeats)
    if "operators" in a.suites:
        entries += suite_operators(a.lengths, a.repeats, a.operators)
    report = {
        "peer": "pytorch",
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": machine_info(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "python": platform.python_version(),
        "numpy_version": np.__version__,
        "command": {"suites": a.suites, "lengths": a.lengths, "batch": a.batch, "train_batches": a.train_batches,
                    "repeats": a.repeats},
        "elapsed_seconds": round(time.perf_counter() - started, 1),
        # 1, 5 and 15 minute load averages at the start and the end: on a shared machine, read figures with them.
        "load_average": {"start": load_start, "end": load_average()},
        "entries": entries,
    }
    print(table(report))
    print(f"total {report['elapsed_seconds']} s", file=sys.stderr)
    if a.json:
        d = os.path.dirname(os.path.abspath(a.json))
        os.makedirs(d, exist_ok=True)
        tmp = a.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(report, f, indent=1, sort_keys=True)
            f.write("\n")
        os.replace(tmp, a.json)
        print(f"wrote {a.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
