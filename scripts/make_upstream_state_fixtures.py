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

Only modules that the computation does not use are replaced (README.md, written here, says which and why). The
script checks what it wrote: every `.pt` reloads (torch.load(weights_only=True)) to exactly the module's state dict,
loads with `load_state_dict(strict=True)` into a freshly built module, which then reproduces `y` bit for bit.
Deterministic: fixed seeds, one thread; the script overwrites every file it writes.
"""

import argparse
import ast
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


def write_readme(out, info):
    s = info
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
