"""Checks `zoo vae decode` on Stable Diffusion's full VAE configuration against diffusers, and measures both.

Run through scripts/validate-vae (which finds or makes the virtual environment and checks the zoo binary). Builds diffusers'
`AutoencoderKL` with sd-vae-ft-ema's configuration (block_out_channels (128, 256, 512, 512), layers_per_block 2,
norm_num_groups 32, latent_channels 4), random weights (`make_vae_fixtures.randomise`), saves its state dict as
safetensors and a random latent [N, 4, s, s] as .npy, then decodes the latent with each, in processes of their own
under `/usr/bin/time -v`, alternating (--repeats times each):

- zoo: `zoo vae decode --vae W --latents L --out grid.png --npy images.npy` (its own decode time is what it prints);
- PyTorch: this script with `--torch-decode`, which loads the same weights into a fresh model (tensor by tensor) and
  times `vae.decode(latents / 0.18215).sample` (twice: the first call includes PyTorch's one-time setup).

The decodes must agree within 1e-4 of the output's largest magnitude, elementwise. Prints the CPU, the thread counts,
the decode times and both processes' peak resident memory, and exits 1 when the decodes disagree.
"""

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no scripts/__pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from make_vae_fixtures import SCALING_FACTOR, SD, make_vae, randomise  # noqa: E402

TOLERANCE = 1e-4


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def timed(command, env):
    """Runs `command` under /usr/bin/time -v; returns (stdout, wall seconds, CPU seconds, peak RSS in MiB)."""
    result = subprocess.run(["/usr/bin/time", "-v"] + command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"validate-vae: {' '.join(command)} failed with status {result.returncode}")
    peak = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr).group(1)) / 1024
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", result.stderr).group(1)
    seconds = 0.0
    for part in wall.split(":"):
        seconds = seconds * 60 + float(part)
    cpu = sum(float(re.search(rf"{kind} time \(seconds\): ([\d.]+)", result.stderr).group(1))
              for kind in ("User", "System"))
    return result.stdout, seconds, cpu, peak


def torch_decode(work, threads, repeats):
    """The PyTorch side, in its own process: load, decode `repeats` times, write torch.npy and torch.json."""
    torch.set_num_threads(threads)
    from safetensors import safe_open

    start = time.perf_counter()
    vae = make_vae(**SD)
    state = vae.state_dict()
    # Tensor by tensor (as zoo reads them), so the peak is the model's, not the model's plus a copy of the file.
    with torch.no_grad(), safe_open(os.path.join(work, "vae.safetensors"), "pt") as f:
        assert set(f.keys()) == set(state.keys())
        for name in f.keys():
            state[name].copy_(f.get_tensor(name))
    load = time.perf_counter() - start
    latents = torch.from_numpy(np.load(os.path.join(work, "latents.npy")))
    times = []
    with torch.inference_mode():
        for _ in range(repeats):
            start = time.perf_counter()
            images = vae.decode(latents / SCALING_FACTOR).sample
            times.append(time.perf_counter() - start)
    np.save(os.path.join(work, "torch.npy"), images.numpy())
    with open(os.path.join(work, "torch.json"), "w") as f:
        json.dump({"load_s": load, "decode_s": times, "threads": torch.get_num_threads()}, f)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zoo", help="the zoo executable")
    parser.add_argument("--work", help="folder for the weights and outputs (default: a temporary one, removed)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="threads of both (default: all CPUs)")
    parser.add_argument("--latent-size", type=int, default=32, help="latent side s (32: 256 px images)")
    parser.add_argument("--batch", type=int, default=1, help="latents N")
    parser.add_argument("--seed", type=int, default=20240611)
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs of each process, alternating (on a shared machine the best is the least disturbed)")
    parser.add_argument("--torch-decode", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.torch_decode:
        torch_decode(args.work, args.threads, 2)
        return
    if not args.zoo:
        parser.error("--zoo is required")
    if args.work:
        os.makedirs(args.work, exist_ok=True)
        run(args, args.work)
    else:
        with tempfile.TemporaryDirectory(prefix="validate-vae-") as work:
            run(args, work)


def run(args, work):
    env = dict(os.environ, ZOO_THREADS=str(args.threads), OMP_NUM_THREADS=str(args.threads),
               MKL_NUM_THREADS=str(args.threads))
    torch.set_num_threads(args.threads)
    print(f"validate-vae: building AutoencoderKL {SD} with random weights (seed {args.seed})", flush=True)
    vae = make_vae(**SD)
    randomise(vae, args.seed)
    from safetensors.torch import save_file

    weights = os.path.join(work, "vae.safetensors")
    save_file({k: v.contiguous() for k, v in vae.state_dict().items()}, weights, metadata={"format": "pt"})
    decoder = sum(v.numel() for k, v in vae.state_dict().items() if k.startswith(("decoder.", "post_quant_conv.")))
    del vae
    torch.manual_seed(args.seed + 1)
    s = args.latent_size
    np.save(os.path.join(work, "latents.npy"), torch.randn(args.batch, SD["latent_channels"], s, s).numpy())
    print(f"validate-vae: {weights}: {os.path.getsize(weights) / 2**20:.0f} MiB, {decoder} decoder parameters; "
          f"latents [{args.batch}, 4, {s}, {s}]", flush=True)

    zoo_runs, torch_runs = [], []
    for _ in range(args.repeats):
        out, wall, cpu, peak = timed(
            [args.zoo, "vae", "decode", "--vae", weights, "--latents", os.path.join(work, "latents.npy"), "--out",
             os.path.join(work, "zoo.png"), "--npy", os.path.join(work, "zoo.npy")], env)
        zoo_runs.append({"decode_s": float(re.search(r" in ([\d.]+) s", out).group(1)), "process_wall_s": wall,
                         "process_cpu_s": cpu, "peak_rss_mib": peak, "load": os.getloadavg()[0]})
        _, wall, cpu, peak = timed(
            [sys.executable, os.path.abspath(__file__), "--torch-decode", "--work", work, "--threads",
             str(args.threads)], env)
        with open(os.path.join(work, "torch.json")) as f:
            times = json.load(f)
        torch_runs.append({"decode_s": times["decode_s"], "load_s": times["load_s"], "threads": times["threads"],
                           "process_wall_s": wall, "process_cpu_s": cpu, "peak_rss_mib": peak,
                           "load": os.getloadavg()[0]})

    a = np.load(os.path.join(work, "zoo.npy")).astype(np.float64)
    b = np.load(os.path.join(work, "torch.npy")).astype(np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    scale = np.abs(b).max()
    err = np.abs(a - b)
    worst = err.max() / scale
    ok = bool(np.all(err <= TOLERANCE * scale))
    report = {
        "cpu": cpu_name(), "threads": args.threads, "torch": torch.__version__,
        "images": list(b.shape), "decoder_parameters": decoder, "zoo": zoo_runs, "pytorch": torch_runs,
        "max_abs_error": float(err.max()), "output_max_abs": float(scale), "max_error_over_max_abs": float(worst),
        "within_tolerance": ok,
    }
    print(json.dumps(report, indent=2))
    zoo_best = min(zoo_runs, key=lambda r: r["decode_s"])
    torch_best = min(torch_runs, key=lambda r: r["decode_s"][1])
    print(f"\nCPU {report['cpu']}, {args.threads} threads; images {list(b.shape)}; best of {args.repeats} runs each")
    print(f"zoo vae decode: decode {zoo_best['decode_s']:.2f} s (process {zoo_best['process_wall_s']:.2f} s, "
          f"{zoo_best['process_cpu_s']:.2f} CPU s), peak RSS {max(r['peak_rss_mib'] for r in zoo_runs):.0f} MiB")
    print(f"PyTorch {torch.__version__}: decode {torch_best['decode_s'][1]:.2f} s (second call; first "
          f"{min(r['decode_s'][0] for r in torch_runs):.2f} s; process {torch_best['process_wall_s']:.2f} s, "
          f"{torch_best['process_cpu_s']:.2f} CPU s), peak RSS {max(r['peak_rss_mib'] for r in torch_runs):.0f} MiB")
    print(f"max |zoo - diffusers| = {err.max():.3g} = {worst:.3g} of max |diffusers| ({scale:.3g}); "
          f"tolerance {TOLERANCE}: {'ok' if ok else 'FAILED'}")
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
