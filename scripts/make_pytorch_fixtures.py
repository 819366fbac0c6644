"""Writes the PyTorch checkpoint (`torch.save` zip) test fixtures of Tests/HostTests/Fixtures/PyTorch/.

Run through scripts/make-pytorch-fixtures (which finds or makes the virtual environment with torch and numpy).
Deterministic: every random tensor comes from torch.manual_seed, and the script overwrites every file it writes.

For each `.pt` that holds tensors it also writes `NAME.expected.safetensors` (with a small safetensors writer of its
own, so no `safetensors` package is needed): exactly the tensors a reader of the `.pt` should return, with the same
names, dtypes and shapes, stored contiguously. Each expected file is read back with a small parser here and compared
with the tensors it was written from, and with what `torch.load(weights_only=True)` gives for the `.pt`.

`hostile.pt` pickles a call of `os.system`: this script never loads it (nor `namespace.pt`, `int32.pt` or
`legacy.pt` into a model); it only lists the pickle's opcodes with `pickletools`, which does not execute anything.
"""

import argparse
import collections
import io
import json
import os
import pickletools
import struct
import sys
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))

# bench_peers parses its command line and sets the thread count when imported (its benchmarks run only under
# `__main__`): give it a command line of its own, one thread, for a reproducible forward.
sys.dont_write_bytecode = True  # no scripts/__pycache__ in the source tree
_saved_argv = sys.argv
sys.argv = [os.path.join(HERE, "bench_peers.py"), "--threads", "1"]
sys.path.insert(0, HERE)
try:
    import bench_peers  # noqa: E402  (DiT, DiTBlock, ... from facebookresearch/DiT models.py)
finally:
    sys.argv = _saved_argv
    sys.path.remove(HERE)

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

# The tiny DiT: facebookresearch/DiT constructor arguments (also written to tiny_dit.json).
TINY_DIT = dict(
    input_size=8, patch_size=2, in_channels=4, hidden_size=16, depth=2, num_heads=2, mlp_ratio=4.0,
    class_dropout_prob=0.1, num_classes=10, learn_sigma=True,
)

# ----------------------------------------------------------------------------------------------------------------
# safetensors, written and read back without the safetensors package

ST_DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.float16: "F16", torch.bfloat16: "BF16",
             torch.int64: "I64", torch.int32: "I32"}
ST_TORCH = {v: k for k, v in ST_DTYPES.items()}
ST_SIZES = {"F32": 4, "F64": 8, "F16": 2, "BF16": 2, "I64": 8, "I32": 4}


def tensor_bytes(t):
    """The tensor's elements, row-major, in this machine's (little-endian) byte order."""
    t = t.detach().contiguous()
    if t.numel() == 0:
        return b""
    return t.reshape(-1).view(torch.uint8).numpy().tobytes()


def write_safetensors(path, tensors, metadata=None):
    """tensors: a list of (name, tensor); the data tiles the buffer in list order."""
    header = {}
    chunks = []
    offset = 0
    for name, t in tensors:
        assert name not in header and name != "__metadata__", name
        data = tensor_bytes(t)
        assert len(data) == t.numel() * ST_SIZES[ST_DTYPES[t.dtype]]
        header[name] = {"dtype": ST_DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for c in chunks:
            f.write(c)


def read_safetensors(path):
    """Returns (list of (name, tensor) in data-offset order, metadata); checks the layout strictly."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack_from("<Q", raw, 0)
    assert n % 8 == 0 and 8 + n <= len(raw), (path, n)
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", {})
    data = raw[8 + n:]
    entries = sorted(header.items(), key=lambda kv: kv[1]["data_offsets"])
    out = []
    offset = 0
    for name, e in entries:
        begin, end = e["data_offsets"]
        assert begin == offset, (path, name, "gap or overlap")
        count = 1
        for d in e["shape"]:
            count *= d
        assert end - begin == count * ST_SIZES[e["dtype"]], (path, name)
        buf = bytearray(data[begin:end])
        dtype = ST_TORCH[e["dtype"]]
        t = torch.frombuffer(buf, dtype=dtype) if buf else torch.empty(0, dtype=dtype)
        out.append((name, t.reshape(e["shape"]).clone()))
        offset = end
    assert offset == len(data), (path, "trailing bytes")
    return out, metadata


# ----------------------------------------------------------------------------------------------------------------
# Fixtures


def seq_model():
    return nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4), nn.BatchNorm1d(4))


def trained_seq_state_dict():
    """The Sequential's state dict after one train-mode forward: non-trivial running stats, num_batches_tracked 1."""
    model = seq_model()
    with torch.no_grad():
        for p in model.parameters():  # LayerNorm and BatchNorm start at 1 / 0: make every value distinct
            p.copy_(torch.randn_like(p))
    model.train()
    with torch.no_grad():
        model(torch.randn(5, 3))
    return model.state_dict()


def small_conv_state_dict():
    model = nn.Sequential(nn.Conv2d(2, 3, kernel_size=3), nn.GroupNorm(1, 3), nn.Flatten(), nn.Linear(12, 2))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p))
    return model.state_dict()


class Hostile:
    """Pickles as a call of os.system: a reader must refuse the GLOBAL by name and never run it."""

    def __reduce__(self):
        return (os.system, ("echo should-never-run",))


def tiny_dit():
    model = bench_peers.DiT(**TINY_DIT)
    with torch.no_grad():
        # Every parameter, pos_embed included, re-randomised: no zero adaLN / final layer, and a pos_embed that is
        # not the sin-cos table, so the test sees that the reader takes it from the checkpoint.
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.05)
    model.eval()
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(HERE), "Tests", "HostTests", "Fixtures",
                                                      "PyTorch"))
    args = parser.parse_args()
    out = args.out
    os.makedirs(out, exist_ok=True)
    assert sys.byteorder == "little"
    torch.manual_seed(20240611)
    torch.set_num_threads(1)

    written = []  # file names, in order
    expectations = []  # (pt file, expected file, list of (name, tensor), path to the dict inside the .pt)

    def path(name):
        return os.path.join(out, name)

    def save(name, obj, **kw):
        # Saved straight to its final path: torch names the zip's top folder after the file (its stem).
        torch.save(obj, path(name), **kw)
        written.append(name)

    def expect(pt, suffix, tensors, select):
        name = pt[:-3] + suffix + ".expected.safetensors"
        items = [(k, v.detach().contiguous().clone()) for k, v in tensors.items()]
        write_safetensors(path(name), items, {"source": pt, "select": "/".join(select) or "(root)"})
        written.append(name)
        expectations.append((pt, name, items, select))

    # state_dict.pt: a plain state dict (collections.OrderedDict with _metadata), float32 + one int64 0-dim.
    sd = trained_seq_state_dict()
    assert sd["2.num_batches_tracked"].dtype == torch.int64 and sd["2.num_batches_tracked"].dim() == 0
    save("state_dict.pt", sd)
    expect("state_dict.pt", "", sd, [])

    # ema.pt: {'ema': state_dict}, keshik6/grafting's layout.
    sd_ema = small_conv_state_dict()
    save("ema.pt", {"ema": sd_ema})
    expect("ema.pt", "", sd_ema, ["ema"])

    # model_and_ema.pt: two state dicts with the same names and different values (ambiguous).
    sd_a = small_conv_state_dict()
    sd_b = small_conv_state_dict()
    assert not torch.equal(sd_a["0.weight"], sd_b["0.weight"])
    save("model_and_ema.pt", {"model": sd_a, "ema": sd_b})
    expect("model_and_ema.pt", ".model", sd_a, ["model"])
    expect("model_and_ema.pt", ".ema", sd_b, ["ema"])

    # nested_state_dict.pt: one state dict among numbers, strings and lists (unambiguous).
    sd_n = trained_seq_state_dict()
    save("nested_state_dict.pt", {"state_dict": sd_n, "epoch": 3, "note": "x", "lrs": [0.1, 0.2]})
    expect("nested_state_dict.pt", "", sd_n, ["state_dict"])

    # float16.pt, bfloat16.pt, float64.pt: the Sequential converted (num_batches_tracked stays int64).
    for name, convert in (("float16.pt", nn.Module.half), ("bfloat16.pt", nn.Module.bfloat16),
                          ("float64.pt", nn.Module.double)):
        m = seq_model()
        m.load_state_dict(trained_seq_state_dict())
        convert(m)
        sdc = m.state_dict()
        save(name, sdc)
        expect(name, "", sdc, [])

    # views.pt: six tensors over one storage (offsets, non-contiguous strides, a 0-stride expand, a 0-dim).
    base = torch.arange(24, dtype=torch.float32)
    views = {"base": base, "slice": base[2:8], "block": base.view(4, 6)[:, 1:3], "transposed": base.view(4, 6).t(),
             "expanded": base[5:6].expand(3, 2), "scalar": base[7]}
    assert all(v.untyped_storage().data_ptr() == base.untyped_storage().data_ptr() for v in views.values())
    save("views.pt", views)
    expect("views.pt", "", views, [])

    # parameters.pt: nn.Parameters (torch._utils._rebuild_parameter), one with requires_grad=False.
    params = {"w": nn.Parameter(torch.randn(2, 3)), "b": nn.Parameter(torch.randn(3), requires_grad=False)}
    save("parameters.pt", params)
    expect("parameters.pt", "", params, [])

    # Refused files (no expected file).
    save("legacy.pt", trained_seq_state_dict(), _use_new_zipfile_serialization=False)
    save("namespace.pt", {"model": trained_seq_state_dict(), "args": argparse.Namespace(lr=0.1)})
    save("hostile.pt", {"payload": Hostile()})
    save("int32.pt", collections.OrderedDict([("weight", torch.randn(2, 2)),
                                              ("counts", torch.arange(3, dtype=torch.int32))]))

    # tiny_dit: the DiT state dict as .pt and .safetensors, its configuration, and one PyTorch forward.
    dit = tiny_dit()
    dsd = dit.state_dict()
    save("tiny_dit.pt", dsd)
    dit_items = [(k, v.detach().contiguous().clone()) for k, v in dsd.items()]
    assert all(v.dtype == torch.float32 for _, v in dit_items)
    write_safetensors(path("tiny_dit.safetensors"), dit_items, {"format": "pt"})
    written.append("tiny_dit.safetensors")
    expectations.append(("tiny_dit.pt", "tiny_dit.safetensors", dit_items, []))
    with open(path("tiny_dit.json"), "w") as f:
        json.dump(TINY_DIT, f, indent=2)
        f.write("\n")
    written.append("tiny_dit.json")
    x = torch.randn(2, TINY_DIT["in_channels"], TINY_DIT["input_size"], TINY_DIT["input_size"])
    t = torch.tensor([3.0, 500.0], dtype=torch.float32)
    y = torch.tensor([1, 7], dtype=torch.int64)
    with torch.no_grad():
        o = dit(x, t, y)
    assert o.shape == (2, 2 * TINY_DIT["in_channels"], TINY_DIT["input_size"], TINY_DIT["input_size"])
    assert o.dtype == torch.float32 and o.abs().max() > 1e-3
    fwd = [("x", x), ("t", t), ("y", y), ("out", o)]
    write_safetensors(path("tiny_dit.forward.safetensors"), fwd,
                      {"model": "tiny_dit.pt", "mode": "eval", "torch": torch.__version__})
    written.append("tiny_dit.forward.safetensors")
    back, _ = read_safetensors(path("tiny_dit.forward.safetensors"))
    assert [n for n, _ in back] == ["x", "t", "y", "out"]
    assert all(torch.equal(a, b) for (_, a), (_, b) in zip(back, fwd))

    # Verification: every expected file parses back to the tensors it was written from, and matches what torch
    # itself loads from the .pt (weights_only=True; the refused files are never loaded).
    for pt, name, items, select in expectations:
        back, _ = read_safetensors(path(name))
        assert [n for n, _ in back] == [n for n, _ in items], name
        for (n, a), (_, b) in zip(back, items):
            assert a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b), (name, n)
        loaded = torch.load(path(pt), weights_only=True)
        for key in select:
            loaded = loaded[key]
        assert list(loaded.keys()) == [n for n, _ in items], pt
        for n, b in items:
            a = loaded[n]
            assert a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b), (pt, n)
    # legacy.pt really is the legacy (non-zip) format, the others are zips.
    assert not zipfile.is_zipfile(path("legacy.pt"))
    for name in written:
        if name.endswith(".pt") and name != "legacy.pt":
            assert zipfile.is_zipfile(path(name)), name
    # views.pt wrote one storage.
    with zipfile.ZipFile(path("views.pt")) as z:
        assert [n for n in z.namelist() if "/data/" in n] == ["views/data/0"], z.namelist()
    # The refused files name what they should (read with pickletools only: nothing is unpickled).
    for name, needle in (("hostile.pt", "system"), ("namespace.pt", "argparse Namespace"),
                         ("int32.pt", "torch IntStorage")):
        assert needle in pickle_listing(path(name)), name

    # README.md
    write_readme(path("README.md"), written)
    written.append("README.md")

    total = 0
    print(f"{'file':40} {'bytes':>8}")
    for name in written:
        size = os.path.getsize(path(name))
        total += size
        print(f"{name:40} {size:8d}")
    print(f"{'total':40} {total:8d}")


def pickle_listing(pt_path):
    """pickletools.dis of the .pt's data.pkl (never unpickled)."""
    with zipfile.ZipFile(pt_path) as z:
        (pkl,) = [n for n in z.namelist() if n.endswith("/data.pkl")]
        data = z.read(pkl)
    buf = io.StringIO()
    pickletools.dis(data, out=buf)
    return buf.getvalue()


def write_readme(readme, written):
    expected = [n for n in written if n.endswith(".expected.safetensors")]
    text = f"""# PyTorch checkpoint (`torch.save`) fixtures

Written by `scripts/make_pytorch_fixtures.py` through `scripts/make-pytorch-fixtures` (which finds or makes the
virtual environment `~/.cache/operatorzoo/peer-venv` that `scripts/bench-peers` uses) with **torch
{torch.__version__}** (CPU), Python {sys.version.split()[0]}. Regenerate with

    scripts/make-pytorch-fixtures

Every random value comes from `torch.manual_seed(20240611)`; rerunning the script overwrites every file here.

**Do not load these `.pt` files with `torch.load`** (or `pickle`): `hostile.pt` pickles a call of `os.system`
(`posix system`) and would run it. Inspect them with `zipfile` and `pickletools.dis`, which execute nothing.

`NAME.expected.safetensors` holds exactly the tensors a reader of `NAME.pt` should return: the same names, dtypes
and shapes, stored contiguously (`__metadata__`: `source`, the `.pt`, and `select`, the key path of the state dict
inside it). The script reads each one back and compares it with the tensors it was made from and with
`torch.load(weights_only=True)` of the `.pt` (only those `.pt` files; never the refused ones).

| file | contents | reader should |
|---|---|---|
| `state_dict.pt` | `torch.save(model.state_dict())` of `nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4), nn.BatchNorm1d(4))`, float32, after one train-mode forward (running stats non-trivial); `2.num_batches_tracked` is an int64 0-dim tensor. A `collections.OrderedDict` with a `_metadata` attribute (BUILD) | return its 9 tensors (`0.weight` ... `2.num_batches_tracked`) |
| `ema.pt` | `{{'ema': state_dict}}` (keshik6/grafting's layout) of `Sequential(Conv2d(2, 3, 3), GroupNorm(1, 3), Flatten(), Linear(12, 2))` | select `ema` |
| `model_and_ema.pt` | `{{'model': sd_a, 'ema': sd_b}}`: the same names, different values | refuse as ambiguous, or select `model` / `ema` when asked (`model_and_ema.model.expected.safetensors`, `model_and_ema.ema.expected.safetensors`) |
| `nested_state_dict.pt` | `{{'state_dict': sd, 'epoch': 3, 'note': 'x', 'lrs': [0.1, 0.2]}}` | select `state_dict` (the only dict of tensors) |
| `float16.pt`, `bfloat16.pt`, `float64.pt` | the Sequential's state dict after `.half()`, `.bfloat16()`, `.double()` (`num_batches_tracked` stays int64) | return F16 / BF16 / F64 (+ I64) tensors |
| `views.pt` | `base = torch.arange(24.)` and views of its one storage: `slice` = `base[2:8]`, `block` = `base.view(4, 6)[:, 1:3]`, `transposed` = `base.view(4, 6).t()`, `expanded` = `base[5:6].expand(3, 2)` (strides 0, 0), `scalar` = `base[7]` (0-dim, offset 7). One storage, `data/0` | apply offset, shape and stride |
| `parameters.pt` | `{{'w': nn.Parameter(randn(2, 3)), 'b': nn.Parameter(randn(3), requires_grad=False)}}`: `torch._utils._rebuild_parameter` | return the tensors |
| `legacy.pt` | a state dict saved with `_use_new_zipfile_serialization=False` (the pre-1.6 non-zip format: consecutive pickles, magic number first). Its storage keys are memory addresses, so this one file differs between runs | refuse (not a zip) |
| `namespace.pt` | `{{'model': sd, 'args': argparse.Namespace(lr=0.1)}}` | refuse, naming `argparse.Namespace` |
| `hostile.pt` | `{{'payload': X}}` where `X.__reduce__` returns `(os.system, ('echo should-never-run',))` | refuse, naming the global (`posix.system`), executing nothing |
| `int32.pt` | a state dict with a float32 `weight` and an int32 `counts` (`torch.IntStorage`) | refuse, naming the dtype / storage |
| `tiny_dit.pt` | `torch.save(model.state_dict())` of facebookresearch/DiT `DiT(**tiny_dit.json)` (the class of `scripts/bench_peers.py`), every parameter including `pos_embed` re-randomised as `randn * 0.05` (no zero adaLN / final layers; `pos_embed` is not the sin-cos table) | return the DiT's tensors |
| `tiny_dit.safetensors` | the same tensors, F32, `__metadata__ {{"format": "pt"}}` | |
| `tiny_dit.json` | the DiT configuration in the host's `DiTConfig` JSON form | |
| `tiny_dit.forward.safetensors` | one eval-mode PyTorch forward (float32, 1 thread): `x` F32 [2, 4, 8, 8] (randn), `t` F32 [2] = [3, 500], `y` I64 [2] = [1, 7], `out` F32 [2, 8, 8, 8] | |

Expected files: {", ".join(f"`{n}`" for n in expected)}.

The zips are torch's `PyTorchStreamWriter` output: entries STORED (no compression), under a top folder named after
the file's stem (`state_dict/data.pkl`, `state_dict/data/0`, ...), storage data aligned to 64 bytes in the file (padding in each local header's extra field), plus `.format_version`,
`.storage_alignment`, `byteorder`, `version` and `.data/serialization_id` records. Their pickles (protocol 2) use the
globals `collections OrderedDict`, `torch._utils _rebuild_tensor_v2`, `torch._utils _rebuild_parameter` and
`torch {{Float,Double,Half,BFloat16,Long}}Storage`, plus the refused `torch IntStorage`, `argparse Namespace` and
`posix system`; a storage is the persistent id `('storage', <StorageType>, key, 'cpu', numel)` (BINPERSID).
"""
    with open(readme, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
