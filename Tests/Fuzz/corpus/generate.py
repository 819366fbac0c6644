#!/usr/bin/env python3
"""Writes the committed seed corpora of the fuzz targets (Tests/Fuzz/corpus/<target>/): small valid files and
a few deliberately broken ones per format, so libFuzzer starts from inputs that reach deep into each parser.

Run from anywhere: `python3 Tests/Fuzz/corpus/generate.py` (numpy and Pillow; the files are committed, so only
rerun it to change the seeds). Inputs that libFuzzer finds interesting go to .build-fuzz/corpus, never here.
"""
import io
import json
import os
import shutil
import struct
import zlib

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
FORMATS = os.path.join(ROOT, "Tests", "HostTests", "Fixtures", "Formats")
PYTORCH = os.path.join(ROOT, "Tests", "HostTests", "Fixtures", "PyTorch")


def out(target, name, data):
    folder = os.path.join(HERE, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def npy_bytes(array):
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def npy_raw(header, payload=b"", version=(1, 0)):
    body = header.encode("latin-1")
    size = struct.pack("<H", len(body)) if version == (1, 0) else struct.pack("<I", len(body))
    return b"\x93NUMPY" + bytes(version) + size + body + payload


def npy():
    for name in sorted(os.listdir(FORMATS)):
        if name.endswith(".npy"):
            shutil.copy(os.path.join(FORMATS, name), os.path.join(HERE, "npy", name))
    out("npy", "f4_2x2x2.npy", npy_bytes(np.arange(8, dtype="<f4").reshape(2, 2, 2)))
    out("npy", "i8_empty.npy", npy_bytes(np.zeros((0,), dtype="<i8")))
    out("npy", "bad_shape_2pow60.npy", npy_raw("{'descr': '<f4', 'fortran_order': False, 'shape': (1152921504606846976,), }\n"))
    out("npy", "bad_truncated.npy", npy_bytes(np.ones((4, 4), dtype="<f8"))[:-9])
    out("npy", "bad_nested.npy", npy_raw("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': ((1,),), }\n"))
    out("npy", "bad_header_length.npy", b"\x93NUMPY\x02\x00\xff\xff\xff\xff{}")


def safetensors_bytes(header, payload=b""):
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + payload


def pytorch():
    # torch.save files written by scripts/make-pytorch-fixtures (real PyTorch), the refused ones included.
    for name in sorted(os.listdir(PYTORCH)):
        if name.endswith(".pt") and os.path.getsize(os.path.join(PYTORCH, name)) < 16384:
            shutil.copy(os.path.join(PYTORCH, name), os.path.join(HERE, "pytorch", name))


def safetensors():
    for name in sorted(os.listdir(FORMATS)):
        if name.endswith(".safetensors"):
            shutil.copy(os.path.join(FORMATS, name), os.path.join(HERE, "safetensors", name))
    f16 = np.array([1.0, -0.0, 65504.0, 6e-8], dtype="<f2").tobytes()
    bf16 = struct.pack("<4H", 0x3F80, 0x7F80, 0xFFC0, 0x0001)
    i64 = np.array([0, -1, 2**62], dtype="<i8").tobytes()
    out("safetensors", "dtypes.safetensors", safetensors_bytes({
        "__metadata__": {"format": "pt", "zoo.train.step": "12"},
        "a": {"dtype": "F16", "shape": [2, 2], "data_offsets": [0, 8]},
        "b": {"dtype": "BF16", "shape": [4], "data_offsets": [8, 16]},
        "c": {"dtype": "I64", "shape": [3], "data_offsets": [16, 40]},
        "d": {"dtype": "U8", "shape": [2], "data_offsets": [40, 42]},
        "e": {"dtype": "F64", "shape": [], "data_offsets": [42, 50]},
        "empty": {"dtype": "F32", "shape": [0, 7], "data_offsets": [50, 50]},
    }, f16 + bf16 + i64 + b"\x01\x02" + struct.pack("<d", 2.5)))
    out("safetensors", "bad_length_2pow60.safetensors", struct.pack("<Q", 2**60) + b"{}")
    out("safetensors", "bad_shape_overflow.safetensors", safetensors_bytes(
        {"x": {"dtype": "F32", "shape": [2**31, 2**31, 2**31], "data_offsets": [0, 4]}}, b"\0" * 4))
    out("safetensors", "bad_offsets_past_end.safetensors", safetensors_bytes(
        {"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 18446744073709551615]}}, b"\0" * 4))
    out("safetensors", "bad_overlap.safetensors", safetensors_bytes({
        "x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
        "y": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\0" * 12))
    out("safetensors", "bad_duplicate_key.safetensors",
        struct.pack("<Q", 64) + b'{"x":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"x":{}}    ' + b"\0" * 4)


def registry():
    shutil.copy(os.path.join(ROOT, "registry.json"), os.path.join(HERE, "registry", "registry.json"))
    entry = {"id": "mha", "kind": "plugin", "library": "libOZMHA.so", "name": "OZMHA", "version": "1.0.0",
             "abi": "1.2", "license": "MIT", "operators": ["mha"], "sha256": "0" * 64,
             "conformance": {"passed": True, "harness_version": "1", "date": "2025-01-01", "summary": "14/14"}}
    out("registry", "one.json", json.dumps({"schema_version": 1, "plugins": [entry]}))
    out("registry", "cfunction.json", json.dumps({"schema_version": 1, "plugins": [dict(entry, kind="cfunction", conformance=None)]}))
    out("registry", "empty.json", '{"schema_version": 1, "plugins": []}')
    out("registry", "bad_types.json", json.dumps({"schema_version": True, "plugins": [dict(entry, operators=[1])]}))
    out("registry", "bad_sha.json", json.dumps({"schema_version": 1, "plugins": [dict(entry, sha256="XYZ")]}))
    out("registry", "bad_nesting.json", "[" * 600 + "]" * 600)


def config():
    base = {"input_size": 32, "patch_size": 2, "in_channels": 3, "hidden_size": 128, "depth": 6, "num_heads": 4,
            "mlp_ratio": 4.0, "class_dropout_prob": 0.1, "num_classes": 11, "learn_sigma": True}
    out("dit-config", "embedded.json", json.dumps(base))
    out("dit-config", "minimal.json", '{"hidden_size": 8, "depth": 1, "num_heads": 2}')
    out("dit-config", "parallel.json", json.dumps(dict(base, parallel_pairs=True, depth=5)))
    out("dit-config", "xl2.json", '{"input_size": 32, "patch_size": 2, "in_channels": 4, "hidden_size": 1152, "depth": 28, '
        '"num_heads": 16, "mlp_ratio": 4.0, "class_dropout_prob": 0.1, "num_classes": 1000, "learn_sigma": true}')
    out("dit-config", "bad_values.json", '{"hidden_size": 1e400, "depth": -1, "num_heads": true, "mlp_ratio": 0.3333333333333333}')
    out("dit-config", "bad_unknown.json", json.dumps(dict(base, dropout=0.5)))
    out("dit-config", "bad_not_object.json", "[1, 2, 3]")


def plans():
    folder = os.path.join(ROOT, "plans")
    for name in sorted(os.listdir(folder)):
        if name.endswith(".json") and name != "plan.schema.json":
            shutil.copy(os.path.join(folder, name), os.path.join(HERE, "graft-plan", name))
    out("graft-plan", "explicit.json", json.dumps({
        "name": "x", "model": "m.safetensors", "seed": 7,
        "grafts": [{"slot": "attn", "layers": [0, 3, 4095], "operator": "swa", "attributes": {"window": [8, 8], "causal": False}},
                   {"slot": "mlp", "layers": "interleave-75", "operator": "mlp", "attributes": {"expansion_ratio": 3}}],
        "stage1": {"samples": 64, "validation_fraction": 0.25, "steps": 5, "batch_size": 2, "learning_rate": 0.01,
                   "loss": "huber", "max_grad_norm": 0, "validate_every": 2, "cache_limit_mib": 1},
        "stage2": {"steps": 0, "batch_size": 1, "learning_rate": 1e-5, "warmup_steps": 0, "ema_decay": 1}}))
    out("graft-plan", "bad_twice.json", json.dumps({"name": "x", "grafts": [
        {"slot": "attn", "layers": "all", "operator": "swa"}, {"slot": "attn", "layers": [1], "operator": "mha"}]}))
    out("graft-plan", "bad_types.json", '{"name": "", "grafts": [{"slot": "mlp", "layers": [1.5, -1], "operator": 3}], "seed": -1}')


def png_bytes(image, **options):
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **options)
    return buffer.getvalue()


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_raw(width, height, bit_depth, colour_type, rows, interlace=0):
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, interlace)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(rows, 9))
            + png_chunk(b"IEND", b""))


def adam7_rows(width, height, channels):
    """Filter-type-0 rows of an 8-bit Adam7-interlaced image: a ramp in each of the seven passes."""
    rows = b""
    for x0, y0, dx, dy in [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]:
        w, h = len(range(x0, width, dx)), len(range(y0, height, dy))
        if w and h:
            rows += b"".join(b"\0" + bytes((x + y) % 256 for x in range(w * channels)) for y in range(h))
    return rows


def pngs():
    gradient = Image.new("RGB", (5, 3))
    gradient.putdata([(x * 50, y * 100, (x + y) * 30) for y in range(3) for x in range(5)])
    seeds = {
        "rgb_5x3.png": png_bytes(gradient),
        "rgba_4x4.png": png_bytes(Image.new("RGBA", (4, 4), (10, 20, 30, 40))),
        "gray_7x2.png": png_bytes(Image.new("L", (7, 2), 128)),
        "gray_alpha_3x3.png": png_bytes(Image.new("LA", (3, 3), (7, 200))),
        "palette_6x6.png": png_bytes(gradient.resize((6, 6)).convert("P")),
        "bilevel_9x1.png": png_bytes(Image.new("1", (9, 1), 1)),
        "interlaced_8x8.png": png_raw(8, 8, 8, 2, adam7_rows(8, 8, 3), interlace=1),
        "gray16_2x2.png": png_raw(2, 2, 16, 0, b"\0\x12\x34\xff\xff" + b"\0\0\0\x80\0"),
        "tall_1x40.png": png_bytes(Image.new("RGB", (1, 40), (255, 0, 0))),
        "bad_claims_16384x16384.png": png_raw(16384, 16384, 8, 2, b"\0" * 16),
        "bad_claims_16384x1.png": png_raw(16384, 1, 1, 0, b"\0" + b"\xaa" * 2048),
        "bad_truncated.png": png_bytes(gradient)[:-20],
        "bad_crc.png": png_bytes(gradient)[:30] + b"\0\0\0\0" + png_bytes(gradient)[34:],
        "bad_signature.png": b"\x89PNG\r\n\x1a\x0b" + png_bytes(gradient)[8:],
    }
    for name, data in seeds.items():
        out("png", name, data)


def record(op, parent, name, content=None, link=None):
    """One ImageFolder fuzz record (see Tests/Fuzz/Sources/FuzzImageFolder/main.swift)."""
    raw = name.encode()
    data = bytes([op, parent, len(raw) - 1]) + raw
    if content is not None:
        data += struct.pack("<H", len(content)) + content
    if link is not None:
        data += bytes([link])
    return data


def imagefolder():
    small = png_bytes(Image.new("RGB", (6, 4), (1, 2, 3)))
    gray = png_bytes(Image.new("L", (3, 9), 200))
    # Folder 0 is the root; each op-0 record appends a folder.
    out("image-folder", "two_classes", bytes([7]) + record(0, 0, "cat") + record(0, 0, "dog")
        + record(1, 1, "a.png", small) + record(1, 1, "b.PNG", gray) + record(1, 2, "c.png", small))
    out("image-folder", "junk_and_hidden", bytes([31]) + record(0, 0, ".hidden") + record(0, 0, "x")
        + record(1, 2, "n.png", b"not a png") + record(1, 2, "note.txt", b"text") + record(1, 2, "e.png", b""))
    out("image-folder", "links", bytes([0]) + record(0, 0, "k") + record(1, 1, "real.png", small)
        + record(2, 1, "null.png", link=0) + record(2, 1, "zero.png", link=1) + record(2, 1, "gone.png", link=2))
    out("image-folder", "fifo", bytes([3]) + record(0, 0, "k") + record(1, 1, "a.png", small) + record(3, 1, "pipe.png"))
    out("image-folder", "empty_class", bytes([1]) + record(0, 0, "k") + record(0, 0, "l") + record(1, 1, "a.png", small))
    out("image-folder", "no_classes", bytes([1]) + record(1, 0, "a.png", small))


def cfunction():
    """`cfunction` descriptions (the value of a registry entry's `cfunction` field): the shipped token_shift, a
    double one with status, workspace and grid bindings, and broken ones (overflowing and dividing shape
    expressions, deep parentheses, unknown kinds, pointer-to-pointer, a repeated key)."""
    with open(os.path.join(ROOT, "registry.json")) as f:
        shipped = next(p["cfunction"] for p in json.load(f)["plugins"] if p["kind"] == "cfunction")
    out("cfunction", "token_shift.json", json.dumps(shipped, indent=1))
    rich = {"role": "channel_mixer", "summary": "s", "complexity": "quadratic", "causal": False,
            "receptive_field": {"left": "W * (k - 1) / 2", "right": "L % 3"},
            "forward": {"symbol": "f", "returns": "int32_t", "arguments": [
                {"kind": "input", "type": "double const*"}, {"kind": "output", "type": "double*"},
                {"kind": "B", "type": "size_t"}, {"kind": "L", "type": "int"}, {"kind": "D", "type": "long"},
                {"kind": "H", "type": "int"}, {"kind": "W", "type": "unsigned long"},
                {"kind": "attribute", "name": "k", "type": "int", "default": 3, "min": 1, "max": 9},
                {"kind": "attribute", "name": "gain", "type": "float", "default": 2},
                {"kind": "attribute", "name": "on", "type": "_Bool", "default": False},
                {"kind": "parameter", "name": "w", "type": "const double *", "shape": ["D", "k * k"],
                 "init": {"normal": 0.02}},
                {"kind": "workspace", "type": "void *", "count": "8 * (B*L + H)"},
                {"kind": "workspace_bytes", "type": "size_t"}]},
            "vjp": {"symbol": "g", "returns": "int", "arguments": [
                {"kind": "input", "type": "const double *"}, {"kind": "output_grad", "type": "const double *"},
                {"kind": "input_grad", "type": "double *"}, {"kind": "parameter_grad", "name": "w", "type": "double *"},
                {"kind": "parameter", "name": "w", "type": "const double *"}, {"kind": "B", "type": "long"},
                {"kind": "L", "type": "long"}, {"kind": "D", "type": "long"}, {"kind": "H", "type": "long"},
                {"kind": "W", "type": "long"}, {"kind": "attribute", "name": "k", "type": "int"}]}}
    out("cfunction", "rich.json", json.dumps(rich))
    def variant(name, edit):
        v = json.loads(json.dumps(rich))
        edit(v)
        out("cfunction", name, json.dumps(v))
    variant("bad_overflow.json", lambda v: v["forward"]["arguments"][11].update(count="L*" * 40 + "9223372036854775807"))
    variant("bad_divide.json", lambda v: v["receptive_field"].update(left="L / (k - k)"))
    variant("bad_parentheses.json", lambda v: v["receptive_field"].update(right="(" * 500 + "L" + ")" * 500))
    variant("bad_kind.json", lambda v: v["forward"]["arguments"][2].update(kind="batch"))
    variant("bad_pointer.json", lambda v: v["forward"]["arguments"][1].update(type="double **"))
    variant("bad_undeclared.json", lambda v: v["vjp"]["arguments"][3].update(name="nope"))
    out("cfunction", "bad_repeated_key.json", '{"role": "token_mixer", "role": "channel_mixer", "summary": "s"}')
    out("cfunction", "bad_not_object.json", '["token_mixer"]')


if __name__ == "__main__":
    for target in ["npy", "safetensors", "registry", "dit-config", "graft-plan", "png", "image-folder", "cfunction",
                   "pytorch"]:
        shutil.rmtree(os.path.join(HERE, target), ignore_errors=True)
        os.makedirs(os.path.join(HERE, target))
    npy()
    safetensors()
    registry()
    config()
    plans()
    pngs()
    imagefolder()
    cfunction()
    pytorch()
