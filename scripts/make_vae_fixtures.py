"""Writes the Stable Diffusion VAE decoder test fixtures of Tests/HostTests/Fixtures/VAE/ with diffusers.

Run through scripts/make-vae-fixtures (which finds or makes the virtual environment with torch, numpy, diffusers and
safetensors). Deterministic: every random tensor comes from torch.manual_seed, one thread; the script overwrites every
file it writes.

The model is a small diffusers `AutoencoderKL` with the structure of Stable Diffusion's VAE (the same block types,
GroupNorm eps 1e-6, a single-head mid-block attention, `post_quant_conv`), only narrower: see SMALL below. Every
parameter is re-randomised (no zero bias, no unit GroupNorm scale), so no layer is an identity.

`scripts/validate_vae.py` imports `make_vae` and `randomise` from here for the full-size check.
"""

import argparse
import json
import os
import platform
import sys
import tempfile

sys.dont_write_bytecode = True  # no scripts/__pycache__ in the source tree

import numpy as np  # noqa: E402
import torch  # noqa: E402

import diffusers  # noqa: E402
import safetensors  # noqa: E402
from diffusers import AutoencoderKL  # noqa: E402
from diffusers.models.attention_processor import AttnProcessor  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402

SEED = 20240611
SCALING_FACTOR = 0.18215  # facebookresearch/DiT sample.py: vae.decode(samples / 0.18215).sample

# The fixture model: two up blocks (one with the nearest-2x upsample, one that changes the channel count and so has a
# conv_shortcut), layers_per_block 1 (two resnets per up block), 2 groups. Narrow so the files stay small (the
# state dict, encoder included, is about 45 KB of float32).
SMALL = dict(block_out_channels=(4, 8), layers_per_block=1, norm_num_groups=2, latent_channels=4, out_channels=3)

# Stable Diffusion's VAE (stabilityai/sd-vae-ft-ema, sd-vae-ft-mse): the configuration of their config.json.
SD = dict(block_out_channels=(128, 256, 512, 512), layers_per_block=2, norm_num_groups=32, latent_channels=4,
          out_channels=3)

# The attention names of diffusers before 0.14 (`AttentionBlock`), still found in some SD VAE files; diffusers renames
# them on load (`ModelMixin._fix_state_dict_keys_on_load`).
OLD_ATTENTION_NAMES = {"to_q": "query", "to_k": "key", "to_v": "value", "to_out.0": "proj_attn"}


def make_vae(block_out_channels, layers_per_block, norm_num_groups, latent_channels, out_channels):
    """An `AutoencoderKL` of SD's structure (in eval mode, with the plain `AttnProcessor`)."""
    n = len(block_out_channels)
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=out_channels,
        down_block_types=("DownEncoderBlock2D",) * n,
        up_block_types=("UpDecoderBlock2D",) * n,
        block_out_channels=tuple(block_out_channels),
        layers_per_block=layers_per_block,
        act_fn="silu",
        latent_channels=latent_channels,
        norm_num_groups=norm_num_groups,
        scaling_factor=SCALING_FACTOR,
    ).eval()
    vae.set_attn_processor(AttnProcessor())
    return vae


def randomise(vae, seed):
    """Re-draws every parameter: weights randn / sqrt(fan_in) (unit gain), GroupNorm scales 1 + 0.1 randn, biases
    and GroupNorm shifts 0.1 randn."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, p in vae.named_parameters():
            if p.dim() >= 2:
                fan_in = p[0].numel()
                p.copy_(torch.randn_like(p) / fan_in**0.5)
            elif name.endswith(".weight"):  # GroupNorm scale
                p.copy_(1 + 0.1 * torch.randn_like(p))
            else:
                p.copy_(0.1 * torch.randn_like(p))


def old_names(state_dict):
    """The state dict with the attention blocks' tensors under diffusers' pre-0.14 names."""
    out = {}
    for name, t in state_dict.items():
        for new, old in OLD_ATTENTION_NAMES.items():
            marker = f".attentions.0.{new}."
            if marker in name:
                name = name.replace(marker, f".attentions.0.{old}.")
        out[name] = t
    return out


def decode(vae, latents):
    """DiT's sample.py: `vae.decode(latents / 0.18215).sample`."""
    with torch.no_grad():
        return vae.decode(latents / SCALING_FACTOR).sample


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser.add_argument("--out", default=os.path.join(root, "Tests", "HostTests", "Fixtures", "VAE"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(1)

    def path(name):
        return os.path.join(args.out, name)

    vae = make_vae(**SMALL)
    randomise(vae, SEED)
    torch.manual_seed(SEED + 1)
    latents = torch.randn(2, SMALL["latent_channels"], 8, 8)
    decoded = decode(vae, latents)

    state = {k: v.detach().contiguous() for k, v in vae.state_dict().items()}
    save_file(state, path("vae.safetensors"), metadata={"format": "pt"})
    # The old-names copy holds the decoder's tensors only (decoder.*, post_quant_conv.*): smaller, and a file without
    # the encoder must load too. diffusers' check below loads the whole renamed state dict.
    old_state = old_names(state)
    decoder_only = {k: v for k, v in old_state.items() if k.startswith(("decoder.", "post_quant_conv."))}
    save_file(decoder_only, path("vae_old_names.safetensors"), metadata={"format": "pt"})
    np.save(path("latents.npy"), latents.numpy().astype(np.float32))
    np.save(path("decoded.npy"), decoded.numpy().astype(np.float32))

    # Checks: the files hold what was computed, diffusers loads both name sets to the same model, and diffusers'
    # default attention processor (scaled_dot_product_attention) agrees with the plain one.
    with tempfile.TemporaryDirectory() as tmp:
        for name, weights in (("new", state), ("old", old_state)):
            folder = os.path.join(tmp, name)
            vae.save_pretrained(folder)
            save_file(weights, os.path.join(folder, "diffusion_pytorch_model.safetensors"), metadata={"format": "pt"})
            loaded = AutoencoderKL.from_pretrained(folder, low_cpu_mem_usage=False).eval()
            loaded.set_attn_processor(AttnProcessor())
            assert torch.equal(decode(loaded, latents), decoded), weights
            sdpa = AutoencoderKL.from_pretrained(folder, low_cpu_mem_usage=False).eval()
            assert torch.allclose(decode(sdpa, latents), decoded, rtol=1e-5, atol=1e-5), weights
    assert torch.equal(torch.from_numpy(np.load(path("decoded.npy"))), decoded)
    for name, expected in (("vae.safetensors", state), ("vae_old_names.safetensors", decoder_only)):
        saved = load_file(path(name))
        assert saved.keys() == expected.keys() and all(torch.equal(saved[k], expected[k]) for k in expected), name

    versions = dict(torch=torch.__version__, diffusers=diffusers.__version__, safetensors=safetensors.__version__,
                    numpy=np.__version__, python=platform.python_version())
    write_readme(path("README.md"), versions, latents, decoded)
    for name in sorted(os.listdir(args.out)):
        print(f"{os.path.getsize(path(name)):8d}  {name}")
    print(json.dumps(versions))


def write_readme(path, versions, latents, decoded):
    config = ", ".join(f"{k}={v}" for k, v in SMALL.items())
    text = f"""# Stable Diffusion VAE decoder fixtures

Written by `scripts/make_vae_fixtures.py` through `scripts/make-vae-fixtures` with
**diffusers {versions['diffusers']}**, torch {versions['torch']} (CPU, one thread), safetensors {versions['safetensors']},
numpy {versions['numpy']}, Python {versions['python']}. Regenerate with

    scripts/make-vae-fixtures

Every random value comes from `torch.manual_seed({SEED})` (weights) and `torch.manual_seed({SEED + 1})` (latents);
rerunning the script overwrites every file here.

The model is a diffusers `AutoencoderKL` with Stable Diffusion's structure (`DownEncoderBlock2D` / `UpDecoderBlock2D`,
SiLU, GroupNorm eps 1e-6, a single-head attention in the mid block, `quant_conv` and `post_quant_conv`), scaled down:

    {config}

(`norm_num_groups` is not visible in the weights: load them with 2 groups.) So the decoder has two up blocks: the first
(8 channels) ends in the nearest-2x upsample and its 3x3 conv, the second goes from 8 to 4 channels (its first resnet
has a `conv_shortcut`) and has no upsample; images are 2x the latent size. Every parameter was re-drawn: weights
`randn / sqrt(fan_in)`, GroupNorm scales `1 + 0.1 randn`, biases and GroupNorm shifts `0.1 randn`. The model runs with
diffusers' plain `AttnProcessor` (the script checks that the default `scaled_dot_product_attention` processor agrees
within 1e-5).

| file | contents |
|---|---|
| `vae.safetensors` | the whole `AutoencoderKL` state dict (encoder included), F32, diffusers' current names (`...attentions.0.to_q.weight`, `to_out.0`, `group_norm`), `__metadata__ {{"format": "pt"}}`, written by `safetensors.torch.save_file` |
| `vae_old_names.safetensors` | the decoder's tensors of the same state dict (`decoder.*`, `post_quant_conv.*`; no encoder, to keep it small) with the attention under diffusers' pre-0.14 names (`query`, `key`, `value`, `proj_attn`); the script checks that `AutoencoderKL.from_pretrained` loads the whole state dict under these names to the same model (same decode, bit for bit) |
| `latents.npy` | F32 {list(latents.shape)}, `randn`: raw DiT latents (before the division by the scaling factor) |
| `decoded.npy` | F32 {list(decoded.shape)}: `vae.decode(latents / {SCALING_FACTOR}).sample`, as DiT's `sample.py` decodes (no clamping) |
"""
    with open(path, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
