"""Writes the upstream state-dict test fixtures of Tests/HostTests/Fixtures/Upstream/.

Each fixture is a state dict saved with `torch.save(module.state_dict(), path)` by the REAL upstream PyTorch module,
an input `x` and the module's forward output `y` (float32 `.npy`, shape [B, L, D]), and a JSON file naming the
OperatorZoo operator and the attributes that describe the same module. A Swift test can then check that
`zoo op run OPERATOR --params FILE.pt` loads the file unchanged and reproduces `y`.

Run through scripts/make-upstream-state-fixtures (which finds or makes the virtual environment and installs the pure
Python packages needed here). The upstream code is imported at run time from the paths given on the command line
(never copied into this repository):

  --safari DIR             HazyResearch/safari: a checkout (with src/models/sequence/hyena.py), or a git directory
                           (bare mirror or .git), from which `git archive REV` is extracted into a temporary folder
  --fast-transformers PATH idiap/fast-transformers: a folder holding the package `fast_transformers` (an unpacked
                           PyPI sdist or a checkout), or the sdist `.tar.gz` itself
  timm                     the `timm` package installed in the virtual environment
  --mamba PATH             state-spaces/mamba: the PyPI sdist `.tar.gz` of mamba-ssm, a folder holding `mamba_ssm`
                           (an unpacked sdist or a checkout), or a git directory (bare mirror or .git), from which
                           `git archive REV mamba_ssm` is extracted into a temporary folder

Only modules that the computation does not use are replaced (README.md, written here, says which and why), except
for Mamba2's two Triton pieces, which have no fallback in mamba2.py: there upstream's own pure PyTorch references from
the same tree stand in (`rms_norm_ref`, `ssd_chunk_scan_combined_ref`), taken with `ast` from upstream's files and
called with exactly the arguments Mamba2.forward passes (checked at every call). The script checks what it wrote:
every `.pt` reloads (torch.load(weights_only=True)) to exactly the module's state dict, loads with
`load_state_dict(strict=True)` into a freshly built module, which then reproduces `y` bit for bit.
Deterministic: fixed seeds, one thread; the script overwrites every file it writes.
"""

import argparse
import ast
import builtins
import copy
import importlib
import importlib.abc
import importlib.machinery
import importlib.metadata
import importlib.util
import inspect
import io
import json
import os
import subprocess
import symtable
import sys
import tarfile
import tempfile
import types

sys.dont_write_bytecode = True  # no __pycache__ in the upstream checkouts or the source tree

import numpy as np  # noqa: E402
import torch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_OUT = os.path.join(ROOT, "Tests", "HostTests", "Fixtures", "Upstream")

B, L, D = 2, 16, 8  # every fixture's input and output shape is [B, L, D]

# safari HyenaOperator: the constructor's own arguments, then the filter arguments (HyenaFilter, ExponentialModulation)
HYENA_KWARGS = dict(
    d_model=D, l_max=16, order=2, filter_order=8, num_heads=1, inner_factor=1, num_blocks=1, fused_bias_fc=False,
    outer_mixing=False, dropout=0.0, filter_dropout=0.0, filter_cls="hyena-filter", post_order_ffn=False,
    jit_filter=False, short_filter_order=3, activation="id", return_state=False,
    # **filter_args -> HyenaFilter(d_model, emb_dim, order=filter_order, seq_len=l_max, w, num_inner_mlps, ...)
    emb_dim=3, w=1, num_inner_mlps=2, bias=True, normalized=False, lr=1e-3, lr_pos_emb=1e-5, wd=0,
    # HyenaFilter(**kwargs) -> ExponentialModulation(d_model, ...)
    fast_decay_pct=0.3, slow_decay_pct=1.5, target=1e-2, modulation_lr=0.0, modulate=True, shift=0.0,
)
# OperatorZoo `hyena` attributes (docs/OPERATORS.md section 7) for the module above; l_max and filter_order differ from
# our defaults (32768, 64), the others are written out although they equal them.
HYENA_ATTRIBUTES = {
    "l_max": 16, "order": 2, "filter_order": 8, "short_filter_order": 3, "emb_dim": 3, "num_inner_mlps": 2,
    "w": 1.0, "modulate": True, "fast_decay_pct": 0.3, "slow_decay_pct": 1.5, "target": 0.01, "shift": 0.0,
}
HYENA_OTHER_TARGET = 0.05  # the second Hyena file: a modulation buffer from another target, all else equal

SEED_HYENA, SEED_LINEAR, SEED_TIMM = 0, 1, 2  # module construction and perturbation
SEED_X = 100  # inputs: seed SEED_X + k for fixture k


def log(*args):
    print(*args, flush=True)


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw).stdout


def git_commit(git_dir=None, work_tree=None, rev="HEAD"):
    try:
        if git_dir:
            return run(["git", "--git-dir", git_dir, "rev-parse", rev + "^{commit}"]).strip()
        return run(["git", "-C", work_tree, "rev-parse", rev + "^{commit}"]).strip()
    except (OSError, subprocess.CalledProcessError):
        return None


# ----------------------------------------------------------------------------------------------------------------
# common: perturbation, checks, writing


def perturb(module, seed):
    """p += 0.01 * randn for every parameter (tied ones once: named_parameters lists each tensor once); buffers untouched.
    Returns the names of the parameters."""
    gen = torch.Generator().manual_seed(seed)
    names = []
    with torch.no_grad():
        for name, p in module.named_parameters():
            before = p.detach().clone()
            p.add_(0.01 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
            assert bool((p != before).all()), f"{name}: some element kept its initial value"
            names.append(name)
    return names


def make_input(k):
    gen = torch.Generator().manual_seed(SEED_X + k)
    return torch.randn(B, L, D, generator=gen, dtype=torch.float32)


def state_listing(sd):
    return [(k, list(v.shape), str(v.dtype).replace("torch.", "")) for k, v in sd.items()]


def save_state(out, name, module):
    """torch.save(module.state_dict()) and check it reloads to exactly the same tensors, names and order."""
    sd = module.state_dict()
    path = os.path.join(out, name)
    torch.save(sd, path)
    back = torch.load(path, weights_only=True)
    assert list(back) == list(sd), (list(back), list(sd))
    for k in sd:
        assert back[k].dtype == sd[k].dtype and back[k].shape == sd[k].shape and torch.equal(back[k], sd[k]), k
    return sd


def save_npy(out, name, t):
    a = t.detach().cpu().numpy().astype(np.float32, copy=False)
    assert a.shape == (B, L, D) and np.isfinite(a).all(), (name, a.shape)
    np.save(os.path.join(out, name), np.ascontiguousarray(a), allow_pickle=False)


def check_reload(out, pt_name, build, forward, x, y):
    """A freshly built module (another seed) loads the saved file strictly and reproduces y exactly."""
    torch.manual_seed(12345)
    fresh = build()
    fresh.load_state_dict(torch.load(os.path.join(out, pt_name), weights_only=True), strict=True)
    fresh.eval()
    with torch.no_grad():
        y2 = forward(fresh, x)
    assert torch.equal(y, y2), f"{pt_name}: the reloaded module does not reproduce y"


def write_json(out, name, obj):
    with open(os.path.join(out, name), "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def print_state(title, sd):
    log(f"{title}:")
    for k, shape, dtype in state_listing(sd):
        log(f"  {k:40s} {str(shape):14s} {dtype}")


# ----------------------------------------------------------------------------------------------------------------
# 1. safari HyenaOperator


def safari_tree(path, rev, tmp):
    """(work tree to import from, commit, how it was obtained)."""
    path = os.path.abspath(path)
    hyena = os.path.join("src", "models", "sequence", "hyena.py")
    if os.path.isfile(os.path.join(path, hyena)):
        commit = git_commit(work_tree=path, rev="HEAD")
        if commit:
            changed = run(["git", "-C", path, "status", "--porcelain", "--", "src"]).strip()
            if changed:
                sys.exit(f"the safari checkout {path} has local changes under src/ (the fixtures must come from "
                         f"upstream's code unmodified):\n{changed}")
        return path, commit, "checkout"
    # a git directory: a bare mirror, or a .git folder
    git_dir = path if os.path.isfile(os.path.join(path, "HEAD")) else os.path.join(path, ".git")
    commit = git_commit(git_dir=git_dir, rev=rev)
    if not commit:
        sys.exit(f"--safari {path}: neither a checkout with {hyena} nor a git directory with revision {rev}")
    tree = os.path.join(tmp, "safari")
    os.makedirs(tree)
    data = subprocess.run(["git", "--git-dir", git_dir, "archive", "--format=tar", commit, "src"], check=True,
                          stdout=subprocess.PIPE).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(tree, filter="data")
    return tree, commit, f"git archive {commit} of {git_dir}"


def load_safari(tree):
    """Imports src.models.sequence.hyena from the upstream tree. Everything it imports is upstream's own code,
    except src.utils.train (pytorch_lightning, rich, omegaconf logging/config-printing helpers): there a module is put
    in its place that holds exactly upstream's `import torch.nn as nn` and `class OptimModule`, executed from the
    upstream file's own source text (ast.get_source_segment), so OptimModule.register (buffer vs parameter) is
    upstream's."""
    for name in list(sys.modules):
        if name == "src" or name.startswith("src."):
            sys.exit(f"a module named {name} is already imported; run this script in a fresh interpreter")
    train_path = os.path.join(tree, "src", "utils", "train.py")
    with open(train_path) as f:
        text = f.read()
    module = ast.parse(text, train_path)
    kept = []
    for node in module.body:
        if isinstance(node, ast.Import) and [(a.name, a.asname) for a in node.names] == [("torch.nn", "nn")]:
            kept.append(node)
        elif isinstance(node, ast.ClassDef) and node.name == "OptimModule":
            kept.append(node)
    assert [type(n).__name__ for n in kept] == ["Import", "ClassDef"], "upstream src/utils/train.py changed shape"
    train = types.ModuleType("src.utils.train")
    train.__file__ = train_path
    for node in kept:
        segment = ast.get_source_segment(text, node)
        # exec the exact upstream lines (compiled with their line numbers, so tracebacks point into train.py)
        code = compile("\n" * (node.lineno - 1) + segment, train_path, "exec")
        exec(code, train.__dict__)
    stubbed_train_lines = [(n.lineno, n.end_lineno) for n in kept]

    sys.path.insert(0, tree)
    sys.modules["src.utils.train"] = train
    hyena = importlib.import_module("src.models.sequence.hyena")
    # the package attribute too, as a real import would set it
    setattr(importlib.import_module("src.utils"), "train", train)
    for name, mod in sorted(sys.modules.items()):
        if (name == "src" or name.startswith("src.")) and name != "src.utils.train":
            files = [getattr(mod, "__file__", None)] + list(getattr(mod, "__path__", []) or [])
            files = [f for f in files if f]
            assert files and all(os.path.realpath(f).startswith(os.path.realpath(tree) + os.sep) for f in files), \
                (name, files)
    assert hyena.HyenaOperator.__init__.__globals__["OptimModule"] is train.OptimModule
    fftconv_missing = hyena.fftconv_func is None
    assert fftconv_missing, "the compiled fftconv extension is importable; the forward would not be fftconv_ref"
    loaded = sorted(n for n in sys.modules if n == "src" or n.startswith("src."))
    return hyena, stubbed_train_lines, loaded


def hyena_fixtures(hyena, out):
    sig = inspect.signature(hyena.HyenaOperator.__init__)
    own = {k: v for k, v in HYENA_KWARGS.items() if k in sig.parameters}
    filter_args = {k: v for k, v in HYENA_KWARGS.items() if k not in sig.parameters}
    fsig = inspect.signature(hyena.HyenaFilter.__init__)
    msig = inspect.signature(hyena.ExponentialModulation.__init__)
    for k in filter_args:
        assert k in fsig.parameters or k in msig.parameters, f"neither HyenaFilter nor ExponentialModulation takes {k}"

    def build(**override):
        kw = dict(HYENA_KWARGS, **override)
        return hyena.HyenaOperator(**kw)

    def forward(m, x):
        return m(x)

    results = {}
    x = make_input(0)
    for tag, override in (("main", {}), ("other_target", {"target": HYENA_OTHER_TARGET})):
        torch.manual_seed(SEED_HYENA)
        m = build(**override)
        names = perturb(m, SEED_HYENA + 1000)
        m.eval()
        with torch.no_grad():
            y = forward(m, x)
        assert y.dtype == torch.float32 and tuple(y.shape) == (B, L, D)
        results[tag] = (m, names, y)

    m, names, y = results["main"]
    sd = save_state(out, "hyena_operator.pt", m)
    save_npy(out, "hyena_x.npy", x)
    save_npy(out, "hyena_y.npy", y)
    check_reload(out, "hyena_operator.pt", build, forward, x, y)

    mo, _, yo = results["other_target"]
    sdo = save_state(out, "hyena_operator_other_target.pt", mo)
    save_npy(out, "hyena_other_target_y.npy", yo)
    check_reload(out, "hyena_operator_other_target.pt", lambda: build(target=HYENA_OTHER_TARGET), forward, x, yo)
    assert list(sdo) == list(sd)
    differ = [k for k in sd if not torch.equal(sd[k], sdo[k])]
    assert differ == ["filter_fn.modulation.deltas"], differ

    # what the state dict holds beyond the parameters: two buffers and the tied Sin frequency
    buffers = [k for k, _ in m.named_buffers()]
    assert sorted(buffers) == ["filter_fn.modulation.deltas", "filter_fn.pos_emb.t"], buffers
    freqs = [k for k in sd if k.endswith(".freq")]
    assert freqs == [f"filter_fn.implicit_filter.{i}.freq" for i in (1, 3, 5)], freqs
    assert all(sd[k].data_ptr() == sd[freqs[0]].data_ptr() for k in freqs), "the Sin frequency is not tied"
    assert set(sd) == set(names) | set(buffers) | set(freqs), "unexpected state dict entries"

    upstream = {
        "module": "src.models.sequence.hyena.HyenaOperator (HazyResearch/safari)",
        "constructor": own, "filter_args": filter_args,
        "seed": SEED_HYENA, "perturbation": "p += 0.01 * randn for every parameter; buffers untouched",
    }
    common = dict(operator="hyena", dim=D)
    write_json(out, "hyena_operator.json", dict(
        common, attributes=HYENA_ATTRIBUTES, params="hyena_operator.pt", x="hyena_x.npy", y="hyena_y.npy",
        upstream=upstream))
    write_json(out, "hyena_operator_other_target.json", dict(
        common, attributes=dict(HYENA_ATTRIBUTES, target=HYENA_OTHER_TARGET), params="hyena_operator_other_target.pt",
        x="hyena_x.npy", y="hyena_other_target_y.npy",
        upstream=dict(upstream, filter_args=dict(filter_args, target=HYENA_OTHER_TARGET)),
        note=("the same module as hyena_operator.pt (identical parameters) but built with target=0.05, so only the "
              "buffer filter_fn.modulation.deltas differs: loading it with the default target (0.01) must be refused")))
    return sd, sdo


# ----------------------------------------------------------------------------------------------------------------
# 2. fast-transformers AttentionLayer(LinearAttention)


def fast_transformers_tree(path, tmp):
    path = os.path.abspath(path)
    if os.path.isfile(path) and (path.endswith(".tar.gz") or path.endswith(".tgz")):
        dest = os.path.join(tmp, "fast-transformers")
        os.makedirs(dest)
        with tarfile.open(path) as tar:
            tar.extractall(dest, filter="data")
        tops = [os.path.join(dest, d) for d in os.listdir(dest)]
        path = tops[0] if len(tops) == 1 and os.path.isdir(tops[0]) else dest
    if not os.path.isfile(os.path.join(path, "fast_transformers", "attention", "linear_attention.py")):
        sys.exit(f"--fast-transformers {path}: no fast_transformers/attention/linear_attention.py there")
    version = None
    pkg_info = os.path.join(path, "PKG-INFO")
    if os.path.isfile(pkg_info):
        for line in open(pkg_info):
            if line.startswith("Version:"):
                version = line.split(":", 1)[1].strip()
    commit = git_commit(work_tree=path) if os.path.isdir(os.path.join(path, ".git")) else None
    return path, version, commit


def load_fast_transformers(tree):
    """Imports the upstream files. fast_transformers/__init__.py (metadata only), events, attention_registry,
    feature_maps and masking are upstream's own modules, imported normally. Only the package
    fast_transformers.attention is created without running its __init__.py, which re-exports every attention and so
    imports causal_linear_attention -> causal_product, a compiled C++/CUDA extension that is not built here; the two
    files needed (attention_layer.py, linear_attention.py) are then imported from that package's upstream folder."""
    for name in list(sys.modules):
        if name == "fast_transformers" or name.startswith("fast_transformers."):
            sys.exit(f"a module named {name} is already imported; run this script in a fresh interpreter")
    sys.path.insert(0, tree)
    ft = importlib.import_module("fast_transformers")
    attention_dir = os.path.join(tree, "fast_transformers", "attention")
    spec = importlib.machinery.ModuleSpec("fast_transformers.attention", None, is_package=True)
    spec.submodule_search_locations = [attention_dir]
    pkg = importlib.util.module_from_spec(spec)
    pkg.__file__ = None
    sys.modules["fast_transformers.attention"] = pkg
    ft.attention = pkg
    layer_mod = importlib.import_module("fast_transformers.attention.attention_layer")
    linear_mod = importlib.import_module("fast_transformers.attention.linear_attention")
    masking = importlib.import_module("fast_transformers.masking")
    # why attention/__init__.py is not run: its compiled extension
    try:
        importlib.import_module("fast_transformers.causal_product")
        why = None
    except ImportError as e:
        why = f"{type(e).__name__}: {e}"
    for name, mod in sorted(sys.modules.items()):
        if name == "fast_transformers" or name.startswith("fast_transformers."):
            files = [getattr(mod, "__file__", None)] + list(getattr(mod, "__path__", []) or [])
            files = [f for f in files if f]
            assert files and all(os.path.realpath(f).startswith(os.path.realpath(tree) + os.sep) for f in files), \
                (name, files)
    loaded = sorted(n for n in sys.modules if n == "fast_transformers" or n.startswith("fast_transformers."))
    return ft, layer_mod.AttentionLayer, linear_mod.LinearAttention, masking, why, loaded


def linear_fixtures(AttentionLayer, LinearAttention, masking, out):
    n_heads = 2

    def build():
        return AttentionLayer(LinearAttention(D // n_heads, eps=1e-6), d_model=D, n_heads=n_heads)

    def forward(m, x):
        n, l, _ = x.shape
        lengths = torch.full((n,), l, dtype=torch.int64)
        return m(x, x, x, attn_mask=masking.FullMask(l, device=x.device),
                 query_lengths=masking.LengthMask(lengths, max_len=l), key_lengths=masking.LengthMask(lengths, max_len=l))

    torch.manual_seed(SEED_LINEAR)
    m = build()
    assert m.inner_attention.eps == 1e-6
    names = perturb(m, SEED_LINEAR + 1000)
    m.eval()
    x = make_input(1)
    with torch.no_grad():
        y = forward(m, x)
    sd = save_state(out, "linear_attention.pt", m)
    assert set(sd) == set(names) and not list(m.buffers()) and not list(m.inner_attention.parameters())
    save_npy(out, "linear_x.npy", x)
    save_npy(out, "linear_y.npy", y)
    check_reload(out, "linear_attention.pt", build, forward, x, y)
    write_json(out, "linear_attention.json", dict(
        operator="linear_attn", dim=D, attributes={"num_heads": n_heads}, params="linear_attention.pt",
        x="linear_x.npy", y="linear_y.npy",
        upstream={
            "module": ("fast_transformers.attention.attention_layer.AttentionLayer(fast_transformers.attention."
                       "linear_attention.LinearAttention(4, eps=1e-6), d_model=8, n_heads=2) (idiap/fast-transformers)"),
            "forward": "forward(x, x, x, attn_mask=FullMask(L), query_lengths=LengthMask(L...), key_lengths=LengthMask(L...))",
            "seed": SEED_LINEAR, "perturbation": "p += 0.01 * randn for every parameter",
        }))
    return sd


# ----------------------------------------------------------------------------------------------------------------
# 3. timm Attention


class _PlaceholderMeta(type):
    def __getattr__(cls, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _placeholder(f"{cls.__qualname__}.{name}")


class _Placeholder(metaclass=_PlaceholderMeta):
    """Stands for a torchvision name: any attempt to use it (call, instantiate) raises."""

    def __init__(self, *args, **kwargs):
        raise RuntimeError(f"the torchvision stub was used: {type(self).__qualname__}")


TORCHVISION_NAMES = []


def _placeholder(qualname):
    return _PlaceholderMeta(qualname.rsplit(".", 1)[-1], (_Placeholder,),
                            {"__qualname__": qualname, "__module__": "torchvision (stub)"})


class _StubModule(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        TORCHVISION_NAMES.append(f"{self.__name__}.{name}")
        value = _placeholder(f"{self.__name__}.{name}")
        setattr(self, name, value)
        return value


class _TorchvisionStub(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path, target=None):
        if fullname == "torchvision" or fullname.startswith("torchvision."):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        return _StubModule(spec.name)

    def exec_module(self, module):
        module.__path__ = []


def load_timm():
    """timm (installed in the environment) imports torchvision at import time (timm.layers, timm.data: FrozenBatchNorm2d,
    transforms, datasets, fx feature extraction), which Attention never uses. PyPI has no CPU torchvision wheel for
    Linux, and its CUDA one cannot load beside a CPU torch, so when torchvision is not installed every torchvision
    module is a stub whose names are placeholders that raise when called or instantiated."""
    stubbed = importlib.util.find_spec("torchvision") is None
    if stubbed:
        sys.meta_path.insert(0, _TorchvisionStub())
    timm = importlib.import_module("timm")
    vt = importlib.import_module("timm.models.vision_transformer")
    return timm, vt, stubbed


def timm_fixtures(vt, out):
    def build():
        return vt.Attention(dim=D, num_heads=2, qkv_bias=True)

    def forward(m, x):
        return m(x)

    torch.manual_seed(SEED_TIMM)
    m = build()
    names = perturb(m, SEED_TIMM + 1000)
    m.eval()
    x = make_input(2)
    with torch.no_grad():
        y = forward(m, x)
        # the same attention written out (timm's non-fused branch), to record that the fused kernel agrees
        qkv = m.qkv(x).reshape(B, L, 3, 2, D // 2).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        a = (q * m.scale) @ k.transpose(-2, -1)
        ref = m.proj((a.softmax(-1) @ v).transpose(1, 2).reshape(B, L, D))
    assert torch.allclose(y, ref, rtol=1e-5, atol=1e-6), (y - ref).abs().max()
    sd = save_state(out, "timm_attention.pt", m)
    assert set(sd) == set(names) and not list(m.buffers())
    save_npy(out, "timm_x.npy", x)
    save_npy(out, "timm_y.npy", y)
    check_reload(out, "timm_attention.pt", build, forward, x, y)
    write_json(out, "timm_attention.json", dict(
        operator="mha", dim=D, attributes={"num_heads": 2}, params="timm_attention.pt", x="timm_x.npy",
        y="timm_y.npy",
        upstream={
            "module": "timm.models.vision_transformer.Attention(dim=8, num_heads=2, qkv_bias=True)",
            "fused_attn": bool(m.fused_attn), "seed": SEED_TIMM,
            "perturbation": "p += 0.01 * randn for every parameter",
        }))
    return sd, bool(m.fused_attn), float((y - ref).abs().max())


# ----------------------------------------------------------------------------------------------------------------
# 4. mamba_ssm Mamba2

# Mamba2's constructor arguments (state-spaces/mamba mamba_ssm/modules/mamba2.py); the others keep upstream's defaults
MAMBA2_KWARGS = dict(
    d_model=D, d_state=16, d_conv=4, expand=2, headdim=4, ngroups=1, chunk_size=8, rmsnorm=True,
    norm_before_gate=False, D_has_hdim=False, bias=False, conv_bias=True, use_mem_eff_path=False, layer_idx=None,
)
# OperatorZoo `mamba2` attributes with their defaults (docs/OPERATORS.md section 5, Plugins/Mamba2/Mamba2Attributes.swift)
MAMBA2_OUR_DEFAULTS = {
    "d_state": 64, "d_conv": 4, "expand": 2, "headdim": 16, "ngroups": 1, "chunk_size": 256,
    "norm_before_gate": False, "eps": 1e-5,
}
MAMBA2_ATTRIBUTES = {"d_state": 16, "headdim": 4, "chunk_size": 8}  # those of the module above that differ from ours
SEED_MAMBA = 3
# made unimportable while the upstream modules are imported, so that mamba2.py takes its own `except ImportError`
# branches (causal_conv1d_fn = None -> nn.Conv1d; selective_state_update = None -> the pure PyTorch step)
MAMBA_BLOCKED = ("triton", "causal_conv1d")
# why each argument of the Triton mamba_chunk_scan_combined that upstream's reference does not take changes nothing
# when it has its default (the route below checks that it has it); `state_dtype` came after mamba-ssm 2.3.2.post1
MAMBA_SCAN_NEUTRAL = {
    "initial_states": "`None`: the scan starts from a zero state, as the reference's `state_passing_ref` does",
    "seq_idx": "`None`: each batch row is one sequence",
    "cu_seqlens": "`None`: only read for `return_varlen_states`",
    "dt_limit": ("`(0.0, inf)`: the kernel clamps `dt` into it after the softplus, which leaves `softplus(...) >= 0` "
                 "unchanged (the route also checks `dt_softplus=True`)"),
    "return_final_states": "`False`: only `y` is returned",
    "return_varlen_states": "`False`: only `y` is returned",
    "state_dtype": "`None`: the chunk states are kept in `C`'s dtype (float32 here), as the reference keeps them",
}
MAMBA_KEPT_IMPORTS = ("math", "torch", "einops")  # the top-level imports kept with extracted upstream functions


def mamba_tree(path, rev, tmp):
    """(tree holding mamba_ssm/, version, commit, how, git describe). PATH: the PyPI sdist .tar.gz, a folder holding
    mamba_ssm/ (an unpacked sdist or a checkout), or a git directory (bare mirror or .git), from which
    `git archive REV mamba_ssm` is extracted into a temporary folder."""
    path = os.path.abspath(path)
    rel = os.path.join("mamba_ssm", "modules", "mamba2.py")
    commit = describe = None
    if os.path.isfile(path) and path.endswith((".tar.gz", ".tgz")):
        dest = os.path.join(tmp, "mamba-sdist")
        os.makedirs(dest)
        with tarfile.open(path) as tar:
            tar.extractall(dest, filter="data")
        tops = [os.path.join(dest, d) for d in os.listdir(dest)]
        tree = tops[0] if len(tops) == 1 and os.path.isdir(tops[0]) else dest
        how = "sdist"
    elif os.path.isfile(os.path.join(path, rel)):
        tree = path
        if os.path.exists(os.path.join(path, ".git")):
            commit = git_commit(work_tree=path)
        if commit:
            changed = run(["git", "-C", path, "status", "--porcelain", "--", "mamba_ssm"]).strip()
            if changed:
                sys.exit(f"the mamba checkout {path} has local changes under mamba_ssm/ (the fixtures must come from "
                         f"upstream's code unmodified):\n{changed}")
            describe = git_describe(["-C", path], commit)
        how = "checkout" if commit else "folder"
    else:
        git_dir = path if os.path.isfile(os.path.join(path, "HEAD")) else os.path.join(path, ".git")
        commit = git_commit(git_dir=git_dir, rev=rev)
        if not commit:
            sys.exit(f"--mamba {path}: neither the sdist, a folder with {rel}, nor a git directory with revision {rev}")
        tree = os.path.join(tmp, "mamba")
        os.makedirs(tree)
        data = subprocess.run(["git", "--git-dir", git_dir, "archive", "--format=tar", commit, "mamba_ssm"],
                              check=True, stdout=subprocess.PIPE).stdout
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            tar.extractall(tree, filter="data")
        describe = git_describe(["--git-dir", git_dir], commit)
        how = "git archive"
    if not os.path.isfile(os.path.join(tree, rel)):
        sys.exit(f"--mamba {path}: no {rel} there")
    init = os.path.join(tree, "mamba_ssm", "__init__.py")
    version = None
    for node in ast.parse(open(init).read(), init).body:  # read, never run (see load_mamba)
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["__version__"]:
            version = ast.literal_eval(node.value)
    pkg_info = os.path.join(tree, "PKG-INFO")
    if os.path.isfile(pkg_info):
        for line in open(pkg_info):
            if line.startswith("Version:"):
                assert line.split(":", 1)[1].strip() == version, (pkg_info, version)
    return tree, version, commit, how, describe


def git_describe(where, commit):
    try:
        return run(["git"] + where + ["describe", "--tags", commit]).strip() or None
    except (OSError, subprocess.CalledProcessError):
        return None


def _global_reads(table):
    """The names a symtable scope and the scopes inside it read from the module namespace."""
    if str(table.get_type()).lower().endswith("function"):
        names = set(table.get_globals())
    else:
        names = {s.get_name() for s in table.get_symbols()
                 if s.is_referenced() and not (s.is_assigned() or s.is_imported() or s.is_parameter())}
    for child in table.get_children():
        names |= _global_reads(child)
    return names


def exec_upstream(path, modname, names, namespace=None):
    """A module named `modname` (not put in sys.modules) holding exactly the named top-level functions and classes of
    the upstream file at `path` and that file's own top-level `import` lines of math, torch and einops (not triton, not
    mamba_ssm), executed from the file's source text (compiled with its line numbers, so tracebacks point into it),
    with `namespace` (the names it imports from sibling files) added first. Returns (module, [(what, first line,
    last line)], the names the extracted code reads from its module namespace)."""
    with open(path) as f:
        text = f.read()
    mod = types.ModuleType(modname)
    mod.__file__ = path
    mod.__dict__.update(namespace or {})
    kept, found, reads = [], {}, set()
    for node in ast.parse(text, path).body:
        if isinstance(node, ast.Import) and all(a.name.split(".")[0] in MAMBA_KEPT_IMPORTS for a in node.names):
            kept.append(node)
        elif (isinstance(node, ast.ImportFrom) and node.level == 0
              and node.module.split(".")[0] in MAMBA_KEPT_IMPORTS):
            kept.append(node)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in names:
            assert node.name not in found and not node.decorator_list, (path, node.name)
            found[node.name] = node
            kept.append(node)
    missing = [n for n in names if n not in found]
    if missing:
        sys.exit(f"{path}: upstream has no top-level {', '.join(missing)}")
    lines = []
    for node in kept:
        segment = ast.get_source_segment(text, node)
        exec(compile("\n" * (node.lineno - 1) + segment, path, "exec"), mod.__dict__)
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            reads |= _global_reads(symtable.symtable(segment, path, "exec"))
            lines.append((node.name, node.lineno, node.end_lineno))
        else:
            lines.append(("import", node.lineno, node.end_lineno))
    return mod, lines, reads


def assert_defined(mod, reads):
    undefined = sorted(n for n in reads if n not in mod.__dict__ and not hasattr(builtins, n))
    assert not undefined, f"{mod.__file__}: the extracted upstream code reads {undefined}, which are not defined"


def upstream_signature(path, name):
    """The signature of upstream's top-level function `name` in `path`, from its source: the def with its body replaced
    by `pass` (the Triton code is never run), its default values evaluated as upstream writes them."""
    with open(path) as f:
        text = f.read()
    nodes = [n for n in ast.parse(text, path).body if isinstance(n, ast.FunctionDef) and n.name == name]
    assert len(nodes) == 1, (path, name)
    stub = copy.deepcopy(nodes[0])
    stub.body, stub.decorator_list, stub.returns = [ast.Pass()], [], None
    module = ast.fix_missing_locations(ast.Module(body=[stub], type_ignores=[]))
    ns = {}
    exec(compile(module, path, "exec"), ns)
    return inspect.signature(ns[name]), nodes[0].lineno


def _same(a, b):
    return a is b or (type(a) is type(b) and a == b)


def _describe(v):
    if isinstance(v, torch.Tensor):
        return f"tensor{list(v.shape)}"
    return repr(v)


class Route:
    """Stands for upstream's compiled (Triton) function `name`, whose signature is read from upstream's source: it
    takes exactly upstream's arguments, hands those that upstream's pure PyTorch reference `ref` takes under the same
    name (with the same default, checked here) to `ref`, and checks at every call that each other argument has its
    default, `neutral` saying why the compiled function then computes what `ref` does. `condition(arguments)` checks what
    that reason relies on. Every call's explicitly passed arguments are recorded."""

    def __init__(self, name, sig, ref, neutral, condition=None):
        ref_sig = inspect.signature(ref)
        self.__name__ = name
        self.name, self.sig, self.ref, self.neutral, self.condition = name, sig, ref, neutral, condition
        self.shared = [p for p in sig.parameters if p in ref_sig.parameters]
        for p in self.shared:
            assert _same(sig.parameters[p].default, ref_sig.parameters[p].default), \
                f"{name} and {ref.__name__} differ in the default of {p}"
            assert ref_sig.parameters[p].kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                                  inspect.Parameter.KEYWORD_ONLY), (ref.__name__, p)
        self.others = [p for p in sig.parameters if p not in ref_sig.parameters]
        unexplained = [p for p in self.others if p not in neutral]
        assert not unexplained, f"{name} takes {unexplained}, which {ref.__name__} does not: is its default neutral?"
        self.ref_only = {p: q.default for p, q in ref_sig.parameters.items() if p not in sig.parameters}
        assert all(d is not inspect.Parameter.empty for d in self.ref_only.values()), (ref.__name__, self.ref_only)
        self.calls = []

    def __call__(self, *args, **kwargs):
        bound = self.sig.bind(*args, **kwargs)
        passed = dict(bound.arguments)
        bound.apply_defaults()
        a = bound.arguments
        for p in self.others:
            assert _same(a[p], self.sig.parameters[p].default), \
                f"{self.name} was given {p}={_describe(a[p])}, which upstream's {self.ref.__name__} does not take"
        if self.condition:
            self.condition(a)
        self.calls.append({p: _describe(v) for p, v in passed.items()})
        return self.ref(**{p: a[p] for p in self.shared})


def _triton_only(name, why):
    def not_run(*args, **kwargs):
        raise RuntimeError(f"{name} (Triton) was called: {why}")
    not_run.__name__ = name
    return not_run


class _Blocker(importlib.abc.MetaPathFinder):
    """Makes `import NAME` (and its submodules) fail as if NAME were not installed; records the attempts."""

    def __init__(self, names):
        self.names, self.seen = names, []

    def find_spec(self, fullname, path, target=None):
        if fullname.split(".")[0] in self.names:
            self.seen.append(fullname)
            raise ModuleNotFoundError(f"No module named '{fullname}' (blocked)", name=fullname)
        return None


def load_mamba(tree):
    """Imports upstream's mamba_ssm/modules/mamba2.py, unmodified, from the upstream tree, with:
    - the package `mamba_ssm` created without running its __init__.py (which imports selective_scan_interface, i.e.
      the CUDA extension selective_scan_cuda, and the Triton/TileLang kernels of mamba_simple and mamba3);
    - `triton` and `causal_conv1d` made unimportable while it is imported, so its own `except ImportError` branches
      set causal_conv1d_fn, causal_conv1d_update, causal_conv1d_varlen_states and selective_state_update to None;
    - in place of the two Triton files it imports names from (layernorm_gated.py, ssd_combined.py), modules holding
      upstream's own pure PyTorch references from the same tree, extracted with `ast`: RMSNorm and rms_norm_ref of
      layernorm_gated.py, with rmsnorm_fn routed to rms_norm_ref; ssd_chunk_scan_combined_ref of ssd_combined.py
      (with chunk_state_ref, state_passing_ref and chunk_scan_ref of ssd_chunk_state.py, ssd_state_passing.py and
      ssd_chunk_scan.py), to which mamba_chunk_scan_combined is routed. Everything else is upstream's own files."""
    for name in list(sys.modules):
        if name == "mamba_ssm" or name.startswith("mamba_ssm."):
            sys.exit(f"a module named {name} is already imported; run this script in a fresh interpreter")
        if name.split(".")[0] in MAMBA_BLOCKED:
            sys.exit(f"{name} is already imported; run this script in a fresh interpreter")
    installed = {n: importlib.util.find_spec(n) is not None for n in MAMBA_BLOCKED + ("selective_scan_cuda",)}
    pkg_dir = os.path.join(tree, "mamba_ssm")
    spec = importlib.machinery.ModuleSpec("mamba_ssm", None, is_package=True)
    spec.submodule_search_locations = [pkg_dir]
    pkg = importlib.util.module_from_spec(spec)
    pkg.__file__ = None
    sys.modules["mamba_ssm"] = pkg
    triton_pkg = importlib.import_module("mamba_ssm.ops.triton")  # upstream's (empty) ops/ and ops/triton/ __init__
    tdir = os.path.join(pkg_dir, "ops", "triton")
    extracted = {}

    def extract(file, names, namespace=None):
        mod, lines, reads = exec_upstream(os.path.join(tdir, file), "mamba_ssm.ops.triton." + file[:-3], names,
                                          namespace)
        extracted[file] = lines
        return mod, reads

    # gated RMSNorm
    ln, ln_reads = extract("layernorm_gated.py", ["rms_norm_ref", "RMSNorm"])
    sig, line = upstream_signature(os.path.join(tdir, "layernorm_gated.py"), "rmsnorm_fn")
    ln.rmsnorm_fn = Route("rmsnorm_fn", sig, ln.rms_norm_ref, {})
    assert_defined(ln, ln_reads)
    routes = {"rmsnorm_fn": (ln.rmsnorm_fn, "layernorm_gated.py", line)}

    # the chunked SSD scan
    cs, cs_reads = extract("ssd_chunk_state.py", ["chunk_state_ref"])
    sp, sp_reads = extract("ssd_state_passing.py", ["state_passing_ref"])
    sc, sc_reads = extract("ssd_chunk_scan.py", ["chunk_scan_ref"])
    for mod, reads in ((cs, cs_reads), (sp, sp_reads), (sc, sc_reads)):
        assert_defined(mod, reads)
    comb, comb_reads = extract("ssd_combined.py", ["ssd_chunk_scan_combined_ref"], dict(
        chunk_state_ref=cs.chunk_state_ref, state_passing_ref=sp.state_passing_ref, chunk_scan_ref=sc.chunk_scan_ref))
    assert_defined(comb, comb_reads)

    def softplus_on(a):
        assert a["dt_softplus"] is True, "dt_limit's default is the identity only after the softplus"

    sig, line = upstream_signature(os.path.join(tdir, "ssd_combined.py"), "mamba_chunk_scan_combined")
    comb.mamba_chunk_scan_combined = Route("mamba_chunk_scan_combined", sig, comb.ssd_chunk_scan_combined_ref,
                                           MAMBA_SCAN_NEUTRAL, softplus_on)
    routes["mamba_chunk_scan_combined"] = (comb.mamba_chunk_scan_combined, "ssd_combined.py", line)
    comb.mamba_split_conv1d_scan_combined = _triton_only(
        "mamba_split_conv1d_scan_combined", "Mamba2.forward calls it only with use_mem_eff_path=True")

    for file, mod in (("layernorm_gated.py", ln), ("ssd_combined.py", comb)):
        sys.modules[mod.__name__] = mod
        setattr(triton_pkg, file[:-3], mod)
    blocker = _Blocker(MAMBA_BLOCKED)
    sys.meta_path.insert(0, blocker)
    try:
        mamba2 = importlib.import_module("mamba_ssm.modules.mamba2")
    finally:
        sys.meta_path.remove(blocker)
    for name in ("causal_conv1d_fn", "causal_conv1d_update", "causal_conv1d_varlen_states", "selective_state_update"):
        assert getattr(mamba2, name) is None, f"mamba2.{name} is not None"
    assert mamba2.RMSNormGated is ln.RMSNorm and mamba2.mamba_chunk_scan_combined is comb.mamba_chunk_scan_combined
    for name, mod in sorted(sys.modules.items()):
        if name == "mamba_ssm" or name.startswith("mamba_ssm."):
            files = [getattr(mod, "__file__", None)] + list(getattr(mod, "__path__", []) or [])
            files = [f for f in files if f]
            assert files and all(os.path.realpath(f).startswith(os.path.realpath(tree) + os.sep) for f in files), \
                (name, files)
    loaded = sorted(n for n in sys.modules if n == "mamba_ssm" or n.startswith("mamba_ssm."))
    return mamba2, routes, extracted, loaded, sorted(set(blocker.seen)), installed


def mamba2_declared(dim, a):
    """Our mamba2's parameters (docs/OPERATORS.md section 5), in our order: name -> shape."""
    d_inner = a["expand"] * dim
    heads, g, n = d_inner // a["headdim"], a["ngroups"], a["d_state"]
    conv_dim, d_in_proj = d_inner + 2 * g * n, 2 * d_inner + 2 * g * n + heads
    return {
        "in_proj.weight": [d_in_proj, dim], "conv1d.weight": [conv_dim, 1, a["d_conv"]], "conv1d.bias": [conv_dim],
        "dt_bias": [heads], "A_log": [heads], "D": [heads], "norm.weight": [d_inner], "out_proj.weight": [dim, d_inner],
    }


def mamba2_fixtures(mamba2, routes, version, out):
    sig = inspect.signature(mamba2.Mamba2.__init__)
    unknown = [k for k in MAMBA2_KWARGS if k not in sig.parameters]
    assert not unknown, f"Mamba2 takes no {unknown}"
    scan, norm = routes["mamba_chunk_scan_combined"][0], routes["rmsnorm_fn"][0]

    def build():
        return mamba2.Mamba2(**MAMBA2_KWARGS)

    def forward(m, x):
        return m(x)

    torch.manual_seed(SEED_MAMBA)
    m = build()
    # what our mamba2 fixes (docs/OPERATORS.md section 5: d_ssm = d_inner, D_has_hdim false, rmsnorm true,
    # dt_limit (0, inf), bias false, conv_bias true; the norm's groups are d_inner / ngroups channels)
    assert m.d_ssm == m.d_inner and not m.D_has_hdim and m.rmsnorm and m.dt_limit == (0.0, float("inf"))
    assert m.activation == "silu" and m.in_proj.bias is None and m.out_proj.bias is None and m.conv1d.bias is not None
    assert m.norm.group_size == m.d_inner // m.ngroups and m.norm.bias is None
    ours = dict(d_state=m.d_state, d_conv=m.d_conv, expand=m.expand, headdim=m.headdim, ngroups=m.ngroups,
                chunk_size=m.chunk_size, norm_before_gate=m.norm_before_gate, eps=m.norm.eps)
    assert set(ours) == set(MAMBA2_OUR_DEFAULTS)
    differ = {k: v for k, v in ours.items() if not _same(v, MAMBA2_OUR_DEFAULTS[k])}
    assert differ == MAMBA2_ATTRIBUTES, differ
    # upstream's reference scan needs whole chunks (chunk_scan_ref asserts it; the Triton kernel does not)
    assert L % m.chunk_size == 0 and L // m.chunk_size >= 2, "the fixture should cross a chunk boundary"
    names = perturb(m, SEED_MAMBA + 1000)
    m.eval()
    x = make_input(3)
    n_scan, n_norm = len(scan.calls), len(norm.calls)
    with torch.no_grad():
        y = forward(m, x)
    assert y.dtype == torch.float32 and tuple(y.shape) == (B, L, D)
    assert len(scan.calls) == n_scan + 1 and len(norm.calls) == n_norm + 1, "the routed functions were not called once"
    scan_call, norm_call = scan.calls[-1], norm.calls[-1]

    sd = save_state(out, "mamba2.pt", m)
    assert set(sd) == set(names) and not list(m.buffers())
    declared = mamba2_declared(D, ours)
    got = {k: list(v.shape) for k, v in sd.items()}
    mismatch = [k for k in sorted(set(got) | set(declared)) if got.get(k) != declared.get(k)]
    assert not mismatch, f"names or shapes differ from our mamba2: {mismatch}"
    save_npy(out, "mamba2_x.npy", x)
    save_npy(out, "mamba2_y.npy", y)
    check_reload(out, "mamba2.pt", build, forward, x, y)

    # the same module through upstream's own token-by-token path (Mamba2.step: the pure PyTorch recurrence, taken
    # since causal_conv1d_update and selective_state_update are None), from a zero state
    with torch.no_grad():
        conv_state, ssm_state = m.allocate_inference_cache(B, L)
        y_step = torch.cat([m.step(x[:, t:t + 1], conv_state, ssm_state)[0] for t in range(L)], dim=1)
    step_diff = float((y - y_step).abs().max())
    assert step_diff < 1e-5, step_diff

    write_json(out, "mamba2.json", dict(
        operator="mamba2", dim=D, attributes=MAMBA2_ATTRIBUTES, params="mamba2.pt", x="mamba2_x.npy",
        y="mamba2_y.npy",
        upstream={
            "module": "mamba_ssm.modules.mamba2.Mamba2 (state-spaces/mamba)", "version": version,
            "constructor": MAMBA2_KWARGS,
            "forward": ("Mamba2.forward(x), its use_mem_eff_path=False branch: nn.Conv1d (causal_conv1d_fn is None), "
                        "mamba_chunk_scan_combined routed to upstream's ssd_chunk_scan_combined_ref, RMSNormGated "
                        "(rmsnorm_fn routed to upstream's rms_norm_ref)"),
            "seed": SEED_MAMBA, "perturbation": "p += 0.01 * randn for every parameter",
        }))
    return sd, dict(scan_call=scan_call, norm_call=norm_call, step_diff=step_diff, ours=ours, declared=declared,
                    y_absmax=float(y.abs().max()))


# ----------------------------------------------------------------------------------------------------------------


def ulps(t, exact):
    """(largest distance in float32 ulps, count of values not the correctly rounded float32) of t against exact."""
    a = t.detach().double().flatten().numpy()
    r = np.asarray(exact, dtype=np.float64).flatten()
    r32 = r.astype(np.float32)
    spacing = np.spacing(np.abs(r32)).astype(np.float64)
    return float(np.max(np.abs(a - r) / spacing)), int(np.sum(a != r32.astype(np.float64)))


def table(sd):
    def note(k):
        if k.endswith(("3.freq", "5.freq")):
            return "tied to `filter_fn.implicit_filter.1.freq`"
        if k.endswith(("pos_emb.t", "modulation.deltas")):
            return "buffer"
        return ""
    rows = [f"| `{k}` | {shape} | {note(k)} |" for k, shape, _ in state_listing(sd)]
    return "| key | shape | |\n|---|---|---|\n" + "\n".join(rows)


def call_text(name, call):
    return f"`{name}(" + ", ".join(f"{k}={v}" for k, v in call.items()) + ")`"


def mamba_readme(s):
    """The mamba_ssm bullet of the README's stubbed section, and its part of the Files section."""
    ex = s["mamba_extracted"]

    def lines(file):
        imports = [f"{a}" + (f"-{b}" if b != a else "") for what, a, b in ex[file] if what == "import"]
        defs = [f"{a}-{b} (`{what}`)" for what, a, b in ex[file] if what != "import"]
        return ", ".join(defs) + (f" and the imports on lines {', '.join(imports)}" if imports else "")

    route_scan, scan_file, scan_line = s["mamba_routes"]["mamba_chunk_scan_combined"]
    route_norm, norm_file, norm_line = s["mamba_routes"]["rmsnorm_fn"]
    inst = s["mamba_installed"]
    status = "; ".join(f"`{n}` {'is installed' if inst[n] else 'is not installed'}" for n in MAMBA_BLOCKED)
    neutral = "; ".join(f"`{k}` {MAMBA_SCAN_NEUTRAL[k]}" for k in route_scan.others)
    shared_scan = ", ".join(f"`{p}`" for p in route_scan.shared)
    shared_norm = ", ".join(f"`{p}`" for p in route_norm.shared)
    ref_only = ", ".join(f"`{p}={v!r}`" for p, v in route_norm.ref_only.items())
    stubbed = f"""- **mamba_ssm**: `mamba_ssm/modules/mamba2.py` is upstream's file, unmodified, imported from {s['mamba_how']} as
  `mamba_ssm.modules.mamba2`; so are the files it reaches (`distributed/tensor_parallel.py`, `distributed_utils.py`,
  `utils/torch.py` and the empty package `__init__.py`s; `huggingface_hub`'s `PyTorchModelHubMixin` is the installed
  package). Three things differ from a CUDA install, none of them in the module's code or its state dict:
  1. The package `mamba_ssm` is created without running its `__init__.py`, which only re-exports and imports
     `ops/selective_scan_interface.py` (`import selective_scan_cuda`, the CUDA extension, which is
     {'installed' if inst['selective_scan_cuda'] else 'not built here'}), `mamba_simple`, `mamba3` (Triton, TileLang and
     CuTe kernels) and the LM model.
  2. `triton` and `causal_conv1d` are made unimportable while `mamba2.py` is imported ({status}); `mamba2.py` catches
     those `ImportError`s itself and sets `causal_conv1d_fn`, `causal_conv1d_update`, `causal_conv1d_varlen_states`
     and `selective_state_update` to `None` (imports refused: {', '.join(f'`{n}`' for n in s['mamba_blocked'])}). With
     `causal_conv1d_fn is None`, `Mamba2.forward` runs its own `self.act(self.conv1d(xBC.transpose(1, 2)).transpose(1,
     2)[:, :-(self.d_conv - 1)])` (the `nn.Conv1d` with `padding = d_conv - 1`, cut to the first `L` outputs).
  3. `mamba2.py` imports names from two Triton files that have no fallback: `RMSNorm as RMSNormGated` from
     `ops/triton/layernorm_gated.py`, and `mamba_chunk_scan_combined` and `mamba_split_conv1d_scan_combined` from
     `ops/triton/ssd_combined.py`. In their place are modules holding upstream's own pure PyTorch references from the
     same tree, their source extracted with `ast` and executed with their own line numbers (the Triton code is never
     imported), each with its file's top-level imports of `math`, `torch` and `einops`: `layernorm_gated.py` lines
     {lines('layernorm_gated.py')}; `ssd_combined.py` lines {lines('ssd_combined.py')}, which calls
     `ssd_chunk_state.py` lines {lines('ssd_chunk_state.py')}, `ssd_state_passing.py` lines
     {lines('ssd_state_passing.py')} and `ssd_chunk_scan.py` lines {lines('ssd_chunk_scan.py')}. The script checked
     that every global name this code reads is defined. Two entry points are routed, each taking exactly upstream's
     signature (read from its `def`):
     - `rmsnorm_fn` (`{norm_file}` line {norm_line}, the Triton `LayerNormFn` with `is_rms_norm=True`), which
       `RMSNorm.forward` calls, goes to `rms_norm_ref`: it takes all of {shared_norm} under the same names and
       defaults, and its own {ref_only} (computing in float32) is what the Triton kernel does. The forward called
       {call_text('rmsnorm_fn', s['norm_call'])}.
     - `mamba_chunk_scan_combined` (`{scan_file}` line {scan_line}) goes to `ssd_chunk_scan_combined_ref`, which takes
       {shared_scan} under the same names and defaults. Every other argument was checked, at every call, to have its
       default, at which the Triton function computes what the reference computes: {neutral}. The forward called
       {call_text('mamba_chunk_scan_combined', s['scan_call'])}.

     `mamba_split_conv1d_scan_combined` (the fused path of `use_mem_eff_path=True`) is a placeholder that raises if
     called; the module is built with `use_mem_eff_path=False`.

  So `y` is upstream's `Mamba2.forward` computed with upstream's own reference implementations of its two Triton
  pieces. As a check that it is the function the CUDA path computes, the script also ran the module through
  upstream's recurrent decoding path (`Mamba2.step` token by token from a zero state, its pure PyTorch branch, taken
  since `causal_conv1d_update` and `selective_state_update` are `None`): the largest difference is
  {s['step_diff']:.2e}, outputs reaching {s['y_absmax']:.2f}. Modules loaded (upstream's files, but for the two
  substitutes above): {', '.join(f'`{n}`' for n in s['mamba_loaded'])}."""
    kw = json.dumps(MAMBA2_KWARGS)
    ours = s["ours"]
    d_inner = ours["expand"] * D
    heads = d_inner // ours["headdim"]
    same = ", ".join(f"`{k} {json.dumps(v)}`" for k, v in ours.items() if k not in MAMBA2_ATTRIBUTES)
    files = f"""`mamba2.pt`: `Mamba2(**{kw})`, all other arguments upstream's defaults. OperatorZoo: `mamba2`, `dim {D}`,
attributes `{json.dumps(MAMBA2_ATTRIBUTES)}`: those that differ from our defaults (our `d_state 64` and `headdim 16` are
the grafting configuration's, upstream's defaults are 128 and 64; our `chunk_size` default is 256); {same} equal ours
(`eps` is not a `Mamba2` argument: it builds `RMSNormGated(d_ssm, eps=1e-5, ...)`). `chunk_size 8` with `L = {L}`
gives two chunks, so the state passed between chunks counts; upstream's reference needs `L` to be a multiple of
`chunk_size` (the Triton kernel does not). Sizes: `d_inner {d_inner}`, `nheads {heads}`, `ngroups {ours['ngroups']}`,
`conv_dim {d_inner + 2 * ours['ngroups'] * ours['d_state']}`, `d_in_proj {2 * d_inner + 2 * ours['ngroups'] * ours['d_state'] + heads}`.
The options our `mamba2` fixes were checked on the module: `d_ssm = d_inner`, `D_has_hdim` false, `rmsnorm` true,
`dt_limit (0, inf)`, no `in_proj`/`out_proj` bias, a `conv1d` bias, norm groups of `d_inner / ngroups` channels.
The state dict holds parameters only (no buffers), with exactly the names and shapes our `mamba2` declares
(docs/OPERATORS.md section 5); its order is the module's (its own `dt_bias`, `A_log`, `D` first, then the
submodules'), not our declaration order (`in_proj.weight`, `conv1d.weight`, `conv1d.bias`, `dt_bias`, `A_log`, `D`,
`norm.weight`, `out_proj.weight`):

{table(s['mamba_sd'])}"""
    return stubbed, files


def write_readme(out, info):
    s = info
    mamba_stubbed, mamba_files = mamba_readme(s)
    text = f"""# Upstream state-dict fixtures

Written by `scripts/make-upstream-state-fixtures` (`scripts/make_upstream_state_fixtures.py`); do not edit by hand.
Each `.pt` is `torch.save(module.state_dict(), path)` of the REAL upstream PyTorch module, imported at run time from
the upstream code (nothing of it is copied into this repository), built with `torch.manual_seed`, then every
*parameter* moved by `p += 0.01 * randn` (buffers untouched) so that no value is its initial one. `*_x.npy` is the
input and `*_y.npy` the module's forward in eval mode under `torch.no_grad()`, float32, shape `[{B}, {L}, {D}]`
(`[B, L, D]`). Each `NAME.json` names the OperatorZoo operator, `dim` and the attributes that describe the same module:
`zoo op run OPERATOR --params NAME.pt` with those attributes must load the file unchanged and reproduce `y`.

The script checked, before writing this: each `.pt` reloads (`torch.load(weights_only=True)`) to exactly the saved
state dict (same names, order, dtypes, values), and a freshly built module loads it with
`load_state_dict(strict=True)` and reproduces `y` bit for bit.

Command line: `{s['command']}`

Environment: Python {sys.version.split()[0]}, torch {torch.__version__}, numpy {np.__version__}, one thread.

## Provenance

| fixture | upstream | version |
|---|---|---|
| `hyena_operator*` | HazyResearch/safari `src/models/sequence/hyena.py` (`HyenaOperator`) | commit `{s['safari_commit']}` |
| `linear_attention*` | idiap/fast-transformers `fast_transformers/attention/attention_layer.py` (`AttentionLayer`), `linear_attention.py` (`LinearAttention`) | {s['ft_version']} |
| `timm_attention*` | timm `timm/models/vision_transformer.py` (`Attention`) | timm {s['timm_version']} |
| `mamba2*` | state-spaces/mamba `mamba_ssm/modules/mamba2.py` (`Mamba2`) | {s['mamba_version']} |

## What was stubbed, and why it cannot change the computation or the state dict

- **safari**: the modules are imported from the upstream tree ({s['safari_how']}) with that tree on `sys.path`:
  `src.models.sequence.hyena` and everything it imports (`src.utils.registry`, `src.utils.config` with the real
  `hydra`/`omegaconf` that resolve `'hyena-filter'` through the registry to upstream's `HyenaFilter`, `src.models.nn`
  with `Activation`, `src.models.sequence` and its `__init__` imports) are upstream's own files, unmodified. The one
  exception is `src.utils.train`, whose top level imports `pytorch_lightning` and `rich` for logging and config
  printing: in its place is a module holding exactly upstream's lines {s['train_lines']} of `src/utils/train.py`
  (`import torch.nn as nn` and `class OptimModule`), executed from that file's own source text. So
  `OptimModule.register`, which makes `lr=0.0` tensors buffers (`pos_emb.t`, `modulation.deltas`) and the others
  parameters (`pos_emb.z`), is upstream's; the rest of `train.py` (logger, config printing, optimizer logging) is
  never called by the module. `src.ops.fftconv` needs the compiled `fftconv` extension, which is not installed:
  hyena.py catches that `ImportError` (`fftconv_func = None`) and, with `fused_fft_conv=False` (its default), runs
  its own `fftconv_ref`, as upstream does without the extension. Upstream modules loaded: {', '.join(f'`{n}`' for n in s['safari_loaded'])}.
- **fast-transformers**: imported from {s['ft_how']} on `sys.path`. `fast_transformers/__init__.py` (metadata only),
  `events`, `attention_registry`, `feature_maps` and `masking` are upstream's, imported normally. Only the package
  `fast_transformers.attention` is created without running its `__init__.py`: that file only re-exports every
  attention class, and importing them all reaches `causal_linear_attention` -> `causal_product`, a compiled C++/CUDA
  extension that is not built ({s['ft_why']}). `attention_layer.py` and `linear_attention.py` are then imported from
  the package's upstream folder, unmodified.
- **timm**: the installed `timm` package, unmodified. {s['timm_stub']}
{mamba_stubbed}

## Files

`hyena_operator.pt`: `HyenaOperator(**{json.dumps(s['hyena_kwargs'])})` (constructor and filter arguments together;
`order` of `HyenaFilter` is `filter_order`, `seq_len` is `l_max`). OperatorZoo: `hyena`, `dim {D}`, attributes
`{json.dumps(HYENA_ATTRIBUTES)}` (only `l_max` and `filter_order` differ from our defaults). Its state dict lists the
parameters, the buffers `filter_fn.pos_emb.t` and `filter_fn.modulation.deltas`, and the shared `Sin` frequency under
three names (one storage in the file):

{table(s['hyena_sd'])}

The buffers are upstream's float32 `torch.linspace` values, not the correctly rounded ones: against
`linspace` computed in float64 and rounded, {s['t_ulps'][1]} of the 16 values of `pos_emb.t` differ (at most
{s['t_ulps'][0]:.2f} float32 ulp) and {s['d_ulps'][1]} of the 8 of `modulation.deltas` (at most {s['d_ulps'][0]:.2f} ulp), so a
check that a buffer agrees must allow a couple of float32 ulps.

`hyena_operator_other_target.pt` (with `hyena_operator_other_target.json` and `hyena_other_target_y.npy`, the forward
of `hyena_x.npy`): the same module, identical parameters, but built with `target={HYENA_OTHER_TARGET}`, so only the
buffer `filter_fn.modulation.deltas` differs. Loaded with the default `target` (0.01) it must be refused (a buffer
that disagrees); with `target {HYENA_OTHER_TARGET}` it must load and reproduce `hyena_other_target_y.npy`.

`linear_attention.pt`: `AttentionLayer(LinearAttention(4, eps=1e-6), d_model=8, n_heads=2)` (default `elu` feature
map); `y = forward(x, x, x, attn_mask=FullMask(L), query_lengths=LengthMask(full), key_lengths=LengthMask(full))`.
OperatorZoo: `linear_attn`, `dim {D}`, `num_heads 2`; `inner_attention` has no parameters or buffers, and the
`query/key/value_projection` entries are the parts of our `qkv`:

{table(s['linear_sd'])}

`timm_attention.pt`: `Attention(dim=8, num_heads=2, qkv_bias=True)` (`q_norm`, `k_norm`, `norm` are `Identity`,
nothing in the state dict). OperatorZoo: `mha`, `dim {D}`, `num_heads 2`. timm ran its fused branch
(`F.scaled_dot_product_attention`, `fused_attn={s['timm_fused']}`); the script also checked it against the written-out
attention (max difference {s['timm_diff']:.2e}).

{table(s['timm_sd'])}

{mamba_files}
"""
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--safari", required=True, metavar="DIR",
                        help="HazyResearch/safari: a checkout, or a git directory (bare mirror or .git)")
    parser.add_argument("--safari-rev", default="HEAD", metavar="REV",
                        help="the revision to extract when --safari is a git directory (default HEAD)")
    parser.add_argument("--fast-transformers", required=True, metavar="PATH",
                        help="idiap/fast-transformers: a folder holding fast_transformers/ (unpacked sdist or "
                             "checkout), or the sdist .tar.gz")
    parser.add_argument("--mamba", required=True, metavar="PATH",
                        help="state-spaces/mamba: the PyPI sdist .tar.gz of mamba-ssm, a folder holding mamba_ssm/ "
                             "(unpacked sdist or checkout), or a git directory (bare mirror or .git)")
    parser.add_argument("--mamba-rev", default="HEAD", metavar="REV",
                        help="the revision to extract when --mamba is a git directory (default HEAD)")
    parser.add_argument("--out", default=DEFAULT_OUT, help="output folder (default: %(default)s)")
    parser.add_argument("--command-line", default=None, help=argparse.SUPPRESS)  # what the wrapper was given
    args = parser.parse_args()

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    info = {"command": args.command_line or " ".join(["scripts/make_upstream_state_fixtures.py"] + sys.argv[1:])}

    with tempfile.TemporaryDirectory(prefix="upstream-fixtures-") as tmp:
        # 1. safari
        tree, commit, how = safari_tree(args.safari, args.safari_rev, tmp)
        hyena, train_lines, safari_loaded = load_safari(tree)
        log(f"safari: {how} (commit {commit})")
        sd, sdo = hyena_fixtures(hyena, out)
        print_state("hyena_operator.pt", sd)
        print_state("hyena_operator_other_target.pt", sdo)
        info.update(t_ulps=ulps(sd["filter_fn.pos_emb.t"], np.linspace(0.0, 1.0, HYENA_KWARGS["l_max"])),
                    d_ulps=ulps(sd["filter_fn.modulation.deltas"], np.linspace(
                        np.log(HYENA_KWARGS["target"]) / HYENA_KWARGS["slow_decay_pct"],
                        np.log(HYENA_KWARGS["target"]) / HYENA_KWARGS["fast_decay_pct"], D)))
        info.update(safari_commit=commit or "unknown (not a git checkout)", safari_how=(
            f"`git archive` of commit `{commit}`" if how.startswith("git archive") else "a checkout"),
            train_lines=", ".join(f"{a}-{b}" for a, b in train_lines), safari_loaded=safari_loaded,
            hyena_sd=sd, hyena_kwargs=HYENA_KWARGS)

        # 2. fast-transformers
        ft_tree, ft_version, ft_commit = fast_transformers_tree(args.fast_transformers, tmp)
        ft, AttentionLayer, LinearAttention, masking, why, ft_loaded = load_fast_transformers(ft_tree)
        ft_version = ft_version or getattr(ft, "__version__", None)
        log(f"fast-transformers {ft_version} from {ft_tree} (commit {ft_commit}); not run: attention/__init__.py ({why})")
        lsd = linear_fixtures(AttentionLayer, LinearAttention, masking, out)
        print_state("linear_attention.pt", lsd)
        info.update(
            ft_version=(f"PyPI sdist pytorch-fast-transformers {ft_version}" if not ft_commit
                        else f"version {ft_version}, commit `{ft_commit}`"),
            ft_how=("the unpacked PyPI sdist" if not ft_commit else "a checkout"),
            ft_why=why or "not tried", linear_sd=lsd)

        # 3. timm
        timm, vt, stubbed = load_timm()
        tsd, fused, diff = timm_fixtures(vt, out)
        print_state("timm_attention.pt", tsd)
        log(f"timm {timm.__version__}; torchvision {'stubbed' if stubbed else 'real'}")
        names = sorted(set(TORCHVISION_NAMES))
        info.update(timm_version=timm.__version__, timm_sd=tsd, timm_fused=fused, timm_diff=diff, timm_stub=(
            "timm imports `torchvision` when it is imported (`timm.layers`, `timm.data`: `FrozenBatchNorm2d`, "
            "transforms, datasets, fx feature extraction); `Attention` uses none of it. PyPI has no CPU torchvision "
            "wheel for Linux and its CUDA wheel cannot load beside a CPU torch, so every `torchvision` module was a "
            "stub whose names are placeholders that raise as soon as they are called or instantiated: the forward "
            "ran without raising, so it used none. Names timm looked up: "
            + ", ".join(f"`{n}`" for n in names) + "."
            if stubbed else "`torchvision` was installed and imported as it is."))

        # 4. mamba_ssm
        m_tree, m_version, m_commit, m_how, m_describe = mamba_tree(args.mamba, args.mamba_rev, tmp)
        mamba2, routes, extracted, m_loaded, blocked, installed = load_mamba(m_tree)
        log(f"mamba_ssm {m_version} from {m_how} {m_tree} (commit {m_commit}, {m_describe}); blocked imports: "
            f"{', '.join(blocked)}")
        msd, mcheck = mamba2_fixtures(mamba2, routes, m_version, out)
        print_state("mamba2.pt", msd)
        log(f"mamba2: Mamba2.step agrees with the forward to {mcheck['step_diff']:.2e}")
        log(f"  mamba_chunk_scan_combined({mcheck['scan_call']})")
        log(f"  rmsnorm_fn({mcheck['norm_call']})")
        info.update(
            mamba_version=(f"PyPI sdist mamba-ssm {m_version}" if m_how == "sdist" else
                           f"mamba_ssm {m_version}, commit `{m_commit}`" + (f" (`{m_describe}`)" if m_describe else "")
                           if m_commit else f"mamba_ssm {m_version} (a folder, not a git checkout)"),
            mamba_how={"sdist": "the unpacked PyPI sdist", "checkout": "a checkout", "folder": "a folder",
                       "git archive": f"`git archive` of commit `{m_commit}`"}[m_how],
            mamba_sd=msd, mamba_routes=routes, mamba_extracted=extracted, mamba_loaded=m_loaded,
            mamba_blocked=blocked, mamba_installed=installed, **mcheck)

        write_readme(out, info)

    total = 0
    log(f"written to {out}:")
    for name in sorted(os.listdir(out)):
        size = os.path.getsize(os.path.join(out, name))
        total += size
        log(f"  {name:40s} {size:8d} bytes")
    log(f"  {'total':40s} {total:8d} bytes")
    assert total < 150_000, "the fixtures are too large"


if __name__ == "__main__":
    main()
