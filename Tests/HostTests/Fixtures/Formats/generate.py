#!/usr/bin/env python3
"""Regenerates the committed format fixtures (run once; the tests only read the outputs).

    python3 -m pip install --target /tmp/st-py safetensors   # 0.8.0 was used
    PYTHONPATH=/tmp/st-py python3 generate.py

numpy 2.4.6 and safetensors 0.8.0 wrote the committed files. Expected values are spelled out in
NPYTests.swift and SafetensorsTests.swift, not read from here.
"""
import os

import numpy as np
from numpy.lib import format as npformat

HERE = os.path.dirname(os.path.abspath(__file__))


def path(name):
    return os.path.join(HERE, name)


# --- .npy files numpy writes (accepted) ---
np.save(path("f4_2x3.npy"), (np.arange(6, dtype="<f4") * 0.5 - 1).reshape(2, 3))
np.save(path("f8_scalar.npy"), np.array(np.pi, dtype="<f8"))
np.save(path("i8_labels.npy"), np.array([0, 7, -3, 999, 2**62, -(2**63)], dtype="<i8"))
np.save(path("f4_empty_0x3.npy"), np.zeros((0, 3), dtype="<f4"))
np.save(
    path("f4_special.npy"),
    np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, 3.4028235e38, -1.17549435e-38], dtype="<f4"),
)
with open(path("f8_v2.npy"), "wb") as f:
    npformat.write_array(f, np.array([[1.5, -2.25]], dtype="<f8"), version=(2, 0))
with open(path("f4_v3.npy"), "wb") as f:
    npformat.write_array(f, np.array([1, 2, 3], dtype="<f4"), version=(3, 0))

# --- .npy files numpy writes that this reader rejects, each for a reason its error names ---
np.save(path("reject_fortran.npy"), np.asfortranarray(np.arange(6, dtype="<f4").reshape(2, 3)))
np.save(path("reject_f2.npy"), np.array([1, 2], dtype="<f2"))
np.save(path("reject_big_endian.npy"), np.array([1, 2], dtype=">f4"))
np.save(path("reject_bool.npy"), np.array([True, False], dtype="|b1"))
np.save(path("reject_i4.npy"), np.array([1, 2], dtype="<i4"))
np.save(path("reject_object.npy"), np.array([1, "a"], dtype=object), allow_pickle=True)
np.save(path("reject_structured.npy"), np.zeros(2, dtype=[("a", "<f4"), ("b", "<i8")]))

# --- safetensors files written by the reference implementation ---
from safetensors import TensorSpec, serialize_file  # noqa: E402
from safetensors.numpy import save_file  # noqa: E402

save_file({"weight": np.arange(4, dtype="<f4").reshape(2, 2)}, path("simple.safetensors"))

arrays = {
    "f32": (np.arange(6, dtype="<f4") * 0.25 - 0.5).reshape(2, 3),
    "f64": np.array([1 / 3, -2.5e-300, 1e300], dtype="<f8"),
    "f16": np.array(
        [0.0, -0.0, 1.0, -2.0, 65504.0, 2.0**-14, 2.0**-24, np.inf, -np.inf, np.nan, 0.1], dtype="<f2"
    ),
    # bfloat16 bit patterns: 0, -0, 1, -2, max, min subnormal, min normal, inf, -inf, nan, ~0.1
    "bf16": np.array(
        [0x0000, 0x8000, 0x3F80, 0xC000, 0x7F7F, 0x0001, 0x0080, 0x7F80, 0xFF80, 0x7FC0, 0x3DCD], dtype="<u2"
    ),
    "i64": np.array([[0, -1], [2**62, -(2**63)]], dtype="<i8"),
    "scalar": np.array(42.0, dtype="<f4"),
    "empty": np.zeros((0, 4), dtype="<f4"),
}
specs = {
    name: TensorSpec(
        dtype="bfloat16" if name == "bf16" else a.dtype.name,
        shape=list(a.shape),
        data_ptr=a.ctypes.data,
        data_len=a.nbytes,
    )
    for name, a in arrays.items()
}
serialize_file(specs, path("mixed.safetensors"), metadata={"format": "pt"})
