"""Writes the grafted (hybrid) DiT checkpoint fixture of Tests/HostTests/Fixtures/Hybrid/.

A tiny DiT from the grafting paper's own code (keshik6/grafting `src/models/dit.py`) has the attention of its odd
blocks replaced by the paper's `Hyena_Y` (`src/operators/hyena/hyena_y.py`, configured from
`configs/sequence_mixers/hyena_y.yaml`) exactly as `src/graft.py` does it (`model.blocks[index].attn = scion_model`),
every parameter is re-randomised, and the model is saved as `torch.save({'ema': model.state_dict()})`, the layout of
the paper's released grafted `model.pt` (which `src/sample.py` loads with `torch.load(path)['ema']` and
`load_state_dict(strict=True)`). One eval-mode forward `out = model(x, t, y)` is written with its inputs, and
OperatorZoo's description of the same model: `tiny.json` (the DiT configuration) and `plan.json` (the grafting plan).
A Swift test can then check that `zoo dit forward --plan plan.json --config tiny.json --checkpoint hybrid_hyena_y.pt`
reproduces `out`.

The same model (reloaded from the checkpoint) is then sampled with the grafting repository's own diffusion code
(`src/diffusion`: `create_diffusion(str(10))`, `ddim_sample_loop`), called as its `src/sample.py` (DiT's sample.py)
calls `p_sample_loop`: classifier-free guidance through `forward_with_cfg` on the doubled batch with the null class
`num_classes`, the first half kept; `clip_denoised=False`, `eta=0`, labels [1, 7], and the initial noise given
(`noise=`). `sample_noise.npy`, `sample_labels.npy`, `sample_ddim.npy` (cfg 1.5) and `sample_ddim_nocfg.npy` (plain
`model.forward`) are for `zoo sample --noise sample_noise.npy --sampler ddim --steps 10 ...`; the README gives the
exact commands and what the script checked (the 3 guided channels, the original timesteps the model receives, the
last step, float32 arithmetic).

Run through scripts/make-hybrid-fixtures (which finds or makes the virtual environment and installs the pure Python
packages needed here). The upstream code is imported at run time (never copied into this repository):

  --grafting DIR        keshik6/grafting: a checkout, or a git directory (bare mirror or .git), from which
                        `git archive REV -- src configs` is extracted into a temporary folder
  --causal-conv1d PATH  Dao-AILab/causal-conv1d: the PyPI sdist (.tar.gz) or a folder holding
                        causal_conv1d/causal_conv1d_interface.py; only its pure-PyTorch `causal_conv1d_ref` is used
  timm                  the `timm` package installed in the virtual environment (dit.py imports PatchEmbed,
                        Attention, Mlp from it)

`hyena_y.py` imports `causal_conv1d_fn` from the CUDA package `causal_conv1d`, which cannot be built or run here: a
module `causal_conv1d` is put in its place whose `causal_conv1d_fn` (same signature as upstream's) calls the package's
own reference `causal_conv1d_ref`, executed from the sdist's source text (that function definition and the two imports
it uses, nothing else). README.md, written here, says what was stubbed and why it cannot change the computation.

The script checks what it wrote: the checkpoint reloads with `torch.load(weights_only=True)` to exactly the state
dict, a freshly built grafted model loads its `['ema']` with `load_state_dict(strict=True)` and reproduces `out` bit
for bit, and a DiT without the graft refuses it. Deterministic: fixed seeds, one thread; it overwrites every file it
writes.
"""

import argparse
import ast
import builtins
import importlib
import importlib.util
import inspect
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import types

sys.dont_write_bytecode = True  # no __pycache__ in the upstream trees or the source tree

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_OUT = os.path.join(ROOT, "Tests", "HostTests", "Fixtures", "Hybrid")
TINY_DIT_JSON = os.path.join(ROOT, "Tests", "HostTests", "Fixtures", "PyTorch", "tiny_dit.json")
OPERATORS_MD = os.path.join(ROOT, "docs", "OPERATORS.md")

# The torchvision stub for timm (placeholders that raise when used) is the one of make_upstream_state_fixtures.py.
sys.path.insert(0, HERE)
try:
    import make_upstream_state_fixtures as upstream_fixtures  # noqa: E402
finally:
    sys.path.remove(HERE)

# The tiny DiT: the constructor arguments of DiT (keshik6/grafting src/models/dit.py, facebookresearch/DiT's class),
# the same as Tests/HostTests/Fixtures/PyTorch/tiny_dit.json (checked when that file is there); written to tiny.json.
TINY_DIT = dict(
    input_size=8, patch_size=2, in_channels=4, hidden_size=16, depth=2, num_heads=2, mlp_ratio=4.0,
    class_dropout_prob=0.1, num_classes=10, learn_sigma=True,
)
# The paper's 50% interleaving (configs/sampling/mha_swaps/50p_hyena_y.yaml: graft_indexes 1, 3, ..., 27 of 28):
# the odd blocks.
GRAFT_INDEXES = list(range(1, TINY_DIT["depth"], 2))
OPERATOR_TYPE, OPERATOR_NAME = "mha", "hyena_y"  # the paper's `operator: {type, name}` for Hyena-Y
HYENA_Y_YAML = "configs/sequence_mixers/hyena_y.yaml"
SAMPLING_YAML = "configs/sampling/mha_swaps/50p_hyena_y.yaml"
# hyena_y.yaml with these replaced: the width of the tiny DiT and its token count ((8 / 2)^2 = 16).
HYENA_Y_OVERRIDES = dict(d_model=TINY_DIT["hidden_size"], l_max=(TINY_DIT["input_size"] // TINY_DIT["patch_size"]) ** 2)
# What Hyena_Y must have been built with (the constructor's arguments after its defaults are applied).
HYENA_Y_EXPECTED = dict(d_model=16, l_max=16, order=2, inner_filter_len=4, num_heads=1, inner_factor=1, num_blocks=1,
                        activation="id")

# OperatorZoo `hyena_y` (docs/OPERATORS.md section 6): the attributes and their defaults, named after upstream's
# constructor arguments (`d_model` is the operator's width, not an attribute), ...
ZOO_HYENA_Y_DEFAULTS = dict(inner_filter_len=4, l_max=1000000, order=2, inner_factor=1, num_heads=1, num_blocks=1)
# ... and the parameters as section 6 lists them for Y (D the width, ki = inner_filter_len).
ZOO_HYENA_Y_PARAMS = {
    "in_proj.weight": "(3D, D)", "in_proj.bias": "(3D)", "inner_filter.weight": "(D, 1, ki)",
    "inner_filter.bias": "(D)", "out_proj.weight": "(D, D)", "out_proj.bias": "(D)",
}

SEED_BUILD = 0  # construction (every value is then replaced)
SEED_PARAMS = 1  # the re-randomisation: p = randn * 0.05, in named_parameters order
SEED_X = 100  # the input x
SEED_FRESH = 12345  # the freshly built model that reloads the checkpoint
PARAM_SCALE = 0.05
T_VALUES = [3, 500]  # timesteps
Y_VALUES = [1, 7]  # class labels
BATCH = 2

# DDIM sampling with the grafting repository's own diffusion code (src/diffusion: create_diffusion, SpacedDiffusion,
# GaussianDiffusion.ddim_sample_loop), called as its src/sample.py (facebookresearch/DiT's sample.py) calls
# p_sample_loop, with ddim_sample_loop in its place, eta 0 and the initial noise given.
SAMPLE_STEPS = 10  # create_diffusion(str(SAMPLE_STEPS)): the 1000 training steps respaced to 10
SAMPLE_CFG = 1.5  # the guidance scale of sample_ddim.npy (sample_ddim_nocfg.npy: none, plain model.forward)
SAMPLE_LABELS = [1, 7]  # zoo: --classes 1,7 --per-class 1
SEED_NOISE = 200  # the initial noise x_T = torch.randn(2, 4, 8, 8) from a generator with this seed
SEED_GLOBAL = 0  # torch.manual_seed before each sampling call (eta 0: the global generator cannot matter; checked)
GUIDED_CHANNELS = 3  # DiT's forward_with_cfg guides model_out[:, :3] only (checked in its source and numerically)

CHECKPOINT = "hybrid_hyena_y.pt"
# The paper's repository pins Dao-AILab/causal-conv1d as the submodule demo_notebooks/causal-conv1d at this commit,
# tagged v1.4.0 (scripts/make-hybrid-fixtures downloads that version's sdist).
CAUSAL_CONV1D_PIN = ("f8c246707eff3431b5cf2ce6defa4b7f309ea9fb", "1.4.0")


def log(*args):
    print(*args, flush=True)


run = upstream_fixtures.run
git_commit = upstream_fixtures.git_commit


# ----------------------------------------------------------------------------------------------------------------
# keshik6/grafting


def grafting_tree(path, rev, tmp):
    """(folder holding src/ and configs/, commit, how it was obtained)."""
    path = os.path.abspath(path)
    marker = os.path.join("src", "operators", "hyena", "hyena_y.py")
    if os.path.isfile(os.path.join(path, marker)):
        commit = git_commit(work_tree=path, rev="HEAD")
        if commit:
            changed = run(["git", "-C", path, "status", "--porcelain", "--", "src", "configs"]).strip()
            if changed:
                sys.exit(f"the grafting checkout {path} has local changes under src/ or configs/ (the fixtures must "
                         f"come from upstream's code unmodified):\n{changed}")
        return path, commit, "a checkout"
    git_dir = path if os.path.isfile(os.path.join(path, "HEAD")) else os.path.join(path, ".git")
    commit = git_commit(git_dir=git_dir, rev=rev)
    if not commit:
        sys.exit(f"--grafting {path}: neither a checkout with {marker} nor a git directory with revision {rev}")
    tree = os.path.join(tmp, "grafting")
    os.makedirs(tree)
    data = subprocess.run(["git", "--git-dir", git_dir, "archive", "--format=tar", commit, "src", "configs"],
                          check=True, stdout=subprocess.PIPE).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(tree, filter="data")
    return tree, commit, f"`git archive {commit} -- src configs`"


def submodule_commit(path, commit, sub):
    """`owner/name commit X` of a submodule (a gitlink) in the grafting repository, or '?'."""
    path = os.path.abspath(path)
    if os.path.isfile(os.path.join(path, "HEAD")):
        cmd = ["git", "--git-dir", path]
    elif os.path.isdir(os.path.join(path, ".git")) or os.path.isfile(os.path.join(path, ".git")):
        cmd = ["git", "-C", path]
    else:
        return "?"
    try:
        fields = run(cmd + ["ls-tree", commit or "HEAD", sub]).split()
    except (OSError, subprocess.CalledProcessError):
        return "?"
    if len(fields) < 3 or fields[1] != "commit":
        return "?"
    tag = f" (tag v{CAUSAL_CONV1D_PIN[1]})" if fields[2] == CAUSAL_CONV1D_PIN[0] else ""
    return f"Dao-AILab/causal-conv1d commit `{fields[2]}`{tag}"


def read_text(tree, rel):
    with open(os.path.join(tree, rel)) as f:
        return f.read()


# ----------------------------------------------------------------------------------------------------------------
# Dao-AILab/causal-conv1d: causal_conv1d_ref from the sdist's source


def causal_conv1d_tree(path, tmp):
    """(folder holding causal_conv1d/, version)."""
    path = os.path.abspath(path)
    if os.path.isfile(path) and (path.endswith(".tar.gz") or path.endswith(".tgz")):
        dest = os.path.join(tmp, "causal-conv1d")
        os.makedirs(dest)
        with tarfile.open(path) as tar:
            tar.extractall(dest, filter="data")
        tops = [os.path.join(dest, d) for d in os.listdir(dest)]
        path = tops[0] if len(tops) == 1 and os.path.isdir(tops[0]) else dest
    interface = os.path.join(path, "causal_conv1d", "causal_conv1d_interface.py")
    if not os.path.isfile(interface):
        sys.exit(f"--causal-conv1d {path}: no causal_conv1d/causal_conv1d_interface.py there")
    version = None
    pkg_info = os.path.join(path, "PKG-INFO")
    if os.path.isfile(pkg_info):
        for line in open(pkg_info):
            if line.startswith("Version:"):
                version = line.split(":", 1)[1].strip()
                break
    if version is None:  # a checkout: causal_conv1d/__init__.py's __version__, read without importing it
        init = os.path.join(path, "causal_conv1d", "__init__.py")
        for node in ast.parse(read_text(path, os.path.join("causal_conv1d", "__init__.py")), init).body:
            if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["__version__"]:
                version = ast.literal_eval(node.value)
    commit = git_commit(work_tree=path) if os.path.isdir(os.path.join(path, ".git")) else None
    return path, version, commit


def free_names(fn):
    """The global names a function definition reads (neither its parameters, nor assigned in it, nor builtins)."""
    args = fn.args
    bound = {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs}
    bound |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
    stored, loaded = set(), set()
    for node in ast.walk(fn):
        if isinstance(node, ast.Name):
            (stored if isinstance(node.ctx, (ast.Store, ast.Del)) else loaded).add(node.id)
    return sorted(loaded - bound - stored - set(dir(builtins)))


def signature_of(fn):
    """[(name, default source or None)] of a FunctionDef's positional-or-keyword parameters."""
    args = fn.args
    assert not args.posonlyargs and not args.kwonlyargs and not args.vararg and not args.kwarg, fn.name
    defaults = [None] * (len(args.args) - len(args.defaults)) + [ast.unparse(d) for d in args.defaults]
    return [(a.arg, d) for a, d in zip(args.args, defaults)]


def load_causal_conv1d_ref(tree):
    """causal_conv1d_ref of causal_conv1d/causal_conv1d_interface.py, executed from that file's own source text with
    only the two imports it reads (`import torch`, `import torch.nn.functional as F`); the file's import of the
    compiled extension (causal_conv1d.cpp_functions) is never run. Also returns upstream causal_conv1d_fn's
    signature (read from the AST, not executed) and the source lines used."""
    path = os.path.join(tree, "causal_conv1d", "causal_conv1d_interface.py")
    text = read_text(tree, os.path.join("causal_conv1d", "causal_conv1d_interface.py"))
    module = ast.parse(text, path)
    kept, fn_sig = [], None
    for node in module.body:
        if isinstance(node, ast.Import) and [(a.name, a.asname) for a in node.names] in (
                [("torch", None)], [("torch.nn.functional", "F")]):
            kept.append(node)
        elif isinstance(node, ast.FunctionDef) and node.name == "causal_conv1d_ref":
            kept.append(node)
        elif isinstance(node, ast.FunctionDef) and node.name == "causal_conv1d_fn":
            fn_sig = signature_of(node)
    kinds = [type(n).__name__ for n in kept]
    assert kinds == ["Import", "Import", "FunctionDef"] and fn_sig, \
        f"upstream causal_conv1d_interface.py changed shape: {kinds}"
    ref_node = kept[-1]
    assert not ref_node.decorator_list
    needs = free_names(ref_node)
    assert set(needs) <= {"torch", "F"}, f"causal_conv1d_ref reads other globals: {needs}"
    namespace = {"__name__": "causal_conv1d.causal_conv1d_interface", "__file__": path}
    for node in kept:
        segment = ast.get_source_segment(text, node)
        # the exact upstream lines, compiled with their line numbers (tracebacks point into the upstream file)
        exec(compile("\n" * (node.lineno - 1) + segment, path, "exec"), namespace)
    ref = namespace["causal_conv1d_ref"]
    assert namespace["torch"] is torch and namespace["F"] is F
    lines = [(n.lineno, n.end_lineno) for n in kept]
    return ref, fn_sig, lines, needs


CONV_CALLS = []


def make_causal_conv1d_module(ref, fn_sig, version):
    """The module `causal_conv1d` that hyena_y.py imports: `causal_conv1d_fn` with upstream's signature (checked
    against the AST of upstream's definition), computing with upstream's `causal_conv1d_ref`."""
    ref_takes_seq_idx = "seq_idx" in inspect.signature(ref).parameters

    def causal_conv1d_fn(x, weight, bias=None, seq_idx=None, initial_states=None, return_final_states=False,
                         final_states_out=None, activation=None):
        CONV_CALLS.append((tuple(x.shape), tuple(weight.shape), bias is not None, seq_idx, activation))
        kwargs = dict(bias=bias, initial_states=initial_states, return_final_states=return_final_states,
                      final_states_out=final_states_out, activation=activation)
        if seq_idx is not None or ref_takes_seq_idx:  # 1.4.0's causal_conv1d_ref has no seq_idx
            kwargs["seq_idx"] = seq_idx
        return ref(x, weight, **kwargs)

    ours = [(p.name, None if p.default is inspect.Parameter.empty else repr(p.default))
            for p in inspect.signature(causal_conv1d_fn).parameters.values()]
    assert ours == fn_sig, f"upstream causal_conv1d_fn's signature changed: {fn_sig}"
    module = types.ModuleType("causal_conv1d", "stand-in: causal_conv1d_fn computes with causal_conv1d_ref")
    module.__version__ = version
    module.causal_conv1d_fn = causal_conv1d_fn
    module.causal_conv1d_ref = ref
    return module


def check_causal_conv1d_ref(ref, fn):
    """causal_conv1d_ref with activation=None is the causal depthwise convolution F.conv1d(padding=k-1)[..., :L]."""
    gen = torch.Generator().manual_seed(7)
    results = []
    for (b, d, length, k) in ((2, 16, 16, 4), (3, 5, 11, 3), (1, 8, 2, 4)):
        x = torch.randn(b, d, length, generator=gen)
        w = torch.randn(d, k, generator=gen)
        bias = torch.randn(d, generator=gen)
        want = F.conv1d(x, w[:, None], bias, padding=k - 1, groups=d)[..., :length]
        got = ref(x, w, bias=bias, activation=None)
        assert got.shape == want.shape and torch.equal(got, want), (b, d, length, k)
        # through the stand-in, called the way hyena_y.py's CausalConv1D_filter calls it
        got = fn(x, w, bias=bias, activation=None, seq_idx=None)
        assert torch.equal(got, want), (b, d, length, k)
        # and without bias
        assert torch.equal(ref(x, w, activation=None), F.conv1d(x, w[:, None], None, padding=k - 1,
                                                                groups=d)[..., :length])
        results.append((b, d, length, k))
    CONV_CALLS.clear()
    return results


# ----------------------------------------------------------------------------------------------------------------
# Import the upstream modules


def import_upstream(tree, causal_conv1d):
    for name in list(sys.modules):
        if name.split(".")[0] in ("models", "operators", "diffusion", "causal_conv1d"):
            sys.exit(f"a module named {name} is already imported; run this script in a fresh interpreter")
    real_conv = importlib.util.find_spec("causal_conv1d") is not None
    # timm (for dit.py) with torchvision stubbed when it is not installed
    timm, vt, tv_stubbed = upstream_fixtures.load_timm()
    sys.modules["causal_conv1d"] = causal_conv1d
    src = os.path.join(tree, "src")
    # as `python src/sample.py` (src on sys.path) and ReplacementFactory (`from operators.hyena.hyena_y import ...`)
    sys.path.insert(0, src)
    dit = importlib.import_module("models.dit")
    hyena_y = importlib.import_module("operators.hyena.hyena_y")
    # src/diffusion, as src/sample.py's `from diffusion import create_diffusion` (numpy, torch, math, enum only)
    diffusion = importlib.import_module("diffusion")
    loaded = sorted(n for n in sys.modules if n.split(".")[0] in ("models", "operators", "diffusion"))
    for name in loaded:
        mod = sys.modules[name]
        files = [getattr(mod, "__file__", None)] + list(getattr(mod, "__path__", []) or [])
        files = [f for f in files if f]
        assert files and all(os.path.realpath(f).startswith(os.path.realpath(src) + os.sep) for f in files), \
            (name, files)
    assert hyena_y.causal_conv1d_fn is causal_conv1d.causal_conv1d_fn
    assert dit.Attention is vt.Attention
    return dit, hyena_y, diffusion, timm, tv_stubbed, real_conv, loaded


# ----------------------------------------------------------------------------------------------------------------
# The grafted model


def hyena_y_config(tree, Hyena_Y):
    """configs/sequence_mixers/hyena_y.yaml with d_model and l_max replaced, and the full constructor arguments."""
    import yaml

    config = yaml.safe_load(read_text(tree, HYENA_Y_YAML))
    paper = dict(config)
    assert set(HYENA_Y_OVERRIDES) <= set(config), config
    config.update(HYENA_Y_OVERRIDES)
    bound = inspect.signature(Hyena_Y).bind(**config)
    bound.apply_defaults()
    full = dict(bound.arguments)
    assert full == HYENA_Y_EXPECTED, full
    return config, paper, full


def check_paper_layout(tree):
    """The paper's grafting code does what build() below does, and its 50% Hyena-Y grafts the odd blocks."""
    import yaml

    graft = read_text(tree, "src/graft.py")
    assert "model.blocks[index].attn = scion_model" in graft, "src/graft.py no longer swaps blocks[index].attn"
    assert "['ema']" in graft and "load_state_dict(state_dict, strict=True)" in graft
    factory = read_text(tree, "src/replacement_factory.py")
    assert "replacement_operator = Hyena_Y(**config)" in factory, "ReplacementFactory builds Hyena_Y differently"
    sample = read_text(tree, "src/sample.py")
    assert "state_dict['ema']" in sample and "model.load_state_dict(state_dict, strict=True)" in sample
    sampling = yaml.safe_load(read_text(tree, SAMPLING_YAML))
    assert sampling["operator"]["type"] == OPERATOR_TYPE and sampling["operator"]["name"] == OPERATOR_NAME, sampling
    assert sampling["operator"]["config_filepath"] == HYENA_Y_YAML, sampling
    paper_indexes = sampling["sample_config"]["graft_indexes"]
    assert paper_indexes == list(range(1, 28, 2)), paper_indexes  # DiT-XL/2: 28 blocks, the odd ones
    return paper_indexes


def build(dit, Hyena_Y, config):
    """DiT(**TINY_DIT), then src/graft.py's loop for operator_type 'mha' (one new operator per index)."""
    model = dit.DiT(**TINY_DIT)
    for index in GRAFT_INDEXES:
        scion_model = Hyena_Y(**config)
        model.blocks[index].attn = scion_model
    return model


def rerandomise(model, seed):
    """Every parameter (pos_embed too) = randn * PARAM_SCALE, in named_parameters order; nothing is zero."""
    torch.manual_seed(seed)
    names = []
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.randn(p.shape, dtype=p.dtype) * PARAM_SCALE)
            assert bool((p != 0).all()), name
            names.append(name)
    return names


def state_listing(sd):
    return [(k, list(v.shape), str(v.dtype).replace("torch.", "")) for k, v in sd.items()]


def save_npy(out, name, a):
    np.save(os.path.join(out, name), np.ascontiguousarray(a), allow_pickle=False)


def write_json(out, name, obj):
    with open(os.path.join(out, name), "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


# ----------------------------------------------------------------------------------------------------------------
# docs/OPERATORS.md section 6 against Hyena_Y's state dict


def operators_md_section6():
    with open(OPERATORS_MD) as f:
        text = f.read()
    start = text.index("## 6. `hyena_x`, `hyena_se`, `hyena_y`")
    end = text.index("\n## 7.", start)
    return text[start:end]


def compare_with_docs(attn_sd, full):
    """(listing of [name, upstream shape, docs shape, docs shape evaluated, ok], problems)."""
    section = operators_md_section6()
    problems = []
    # the attribute table: name, default, and that it applies to Y
    table = {}
    for line in section.splitlines():
        m = re.match(r"\| `([a-z_]+)` \| [^|]* \| ([^|]*) \| ([^|]*) \|", line)
        if m:
            table[m.group(1)] = (m.group(2).strip(), m.group(3).strip())
    for name, default in ZOO_HYENA_Y_DEFAULTS.items():
        if name not in table:
            problems.append(f"attribute `{name}` is not in the section 6 table")
            continue
        doc_default, ops = table[name]
        if doc_default != str(default):
            problems.append(f"attribute `{name}`: section 6 gives default {doc_default}, the script assumes {default}")
        if not (ops == "all" or "Y" in [o.strip() for o in ops.split(",")]):
            problems.append(f"attribute `{name}` does not apply to Y in section 6 ({ops})")
    for name in table:
        if name not in ZOO_HYENA_Y_DEFAULTS and name != "short_filter_order":
            problems.append(f"section 6 has an attribute `{name}` the script does not know")
    for name in ZOO_HYENA_Y_DEFAULTS:
        if name not in full:
            problems.append(f"our attribute `{name}` is not a Hyena_Y constructor argument")
    # the parameters
    for name, shape in ZOO_HYENA_Y_PARAMS.items():
        if f"`{name} {shape}`" not in section:
            problems.append(f"section 6 does not list `{name} {shape}`")
    d, ki = full["d_model"], full["inner_filter_len"]
    listing = []
    for name in sorted(set(attn_sd) | set(ZOO_HYENA_Y_PARAMS)):
        up = list(attn_sd[name].shape) if name in attn_sd else None
        doc = ZOO_HYENA_Y_PARAMS.get(name)
        evaluated = None
        if doc is not None:
            evaluated = [eval(part.strip(), {"__builtins__": {}}, {"D": d, "ki": ki})
                         for part in doc.strip("()").replace("3D", "3*D").split(",")]
        ok = up is not None and evaluated == up
        if up is None:
            problems.append(f"section 6 lists `{name}` {doc}, which Hyena_Y's state dict does not hold")
        elif doc is None:
            problems.append(f"Hyena_Y's state dict holds `{name}` {up}, which section 6 does not list")
        elif not ok:
            problems.append(f"`{name}`: Hyena_Y has {up}, section 6 says {doc} = {evaluated}")
        listing.append((name, up, doc, evaluated, ok))
    return listing, problems


# ----------------------------------------------------------------------------------------------------------------
# DDIM sampling with the grafting repository's own diffusion code (src/diffusion)


def check_sampling_sources(tree, dit, diffusion_pkg):
    """The upstream lines the sampling below repeats or relies on (src/sample.py's CFG setup and loop call,
    forward_with_cfg guiding 3 channels, _WrappedModel mapping respaced indices to original timesteps)."""
    sample = read_text(tree, "src/sample.py")
    for line in ("diffusion = create_diffusion(str(args.num_sampling_steps))",
                 "z = torch.cat([z, z], 0)",
                 "y_null = torch.tensor([1000] * n, device=device)",
                 "y = torch.cat([y, y_null], 0)",
                 "model_kwargs = dict(y=y, cfg_scale=args.cfg_scale)",
                 "model.forward_with_cfg, z.shape, z, clip_denoised=False, model_kwargs=model_kwargs",
                 "samples, _ = samples.chunk(2, dim=0)"):
        assert line in sample, f"src/sample.py no longer holds {line!r}"
    assert "diffusion.p_sample_loop(" in sample  # upstream samples with DDPM; ddim_sample_loop is its DDIM twin
    cfg_src = inspect.getsource(dit.DiT.forward_with_cfg)
    guide_line = "eps, rest = model_out[:, :3], model_out[:, 3:]"
    assert guide_line in cfg_src, "forward_with_cfg no longer guides model_out[:, :3]"
    assert "half = x[: len(x) // 2]" in cfg_src and "model_out = self.forward(combined, t, y)" in cfg_src
    wrapped = inspect.getsource(diffusion_pkg.respace._WrappedModel.__call__)
    assert "new_ts = map_tensor[ts]" in wrapped and "return self.model(x, new_ts, **kwargs)" in wrapped
    # the rescale to [0, 1000) of improved-diffusion is commented out: the model gets the original timesteps as is
    assert all(ln.lstrip().startswith("#") for ln in wrapped.splitlines() if "rescale_timesteps" in ln)
    ddim = inspect.getsource(diffusion_pkg.gaussian_diffusion.GaussianDiffusion.ddim_sample)
    assert "eps = self._predict_eps_from_xstart(x, t, out[\"pred_xstart\"])" in ddim
    extract = inspect.getsource(diffusion_pkg.gaussian_diffusion._extract_into_tensor)
    assert "[timesteps].float()" in extract  # the float64 schedule is cast to float32 before any arithmetic
    return guide_line


class ModelCalls:
    """Records the timesteps and labels each DiT forward receives (forward pre-hooks on t_embedder and
    y_embedder, which forward() calls through __call__ even when forward_with_cfg calls self.forward)."""

    def __init__(self, model):
        self.t, self.y = [], []
        self.handles = [
            model.t_embedder.register_forward_pre_hook(lambda m, a: self.t.append(a[0].detach().clone())),
            model.y_embedder.register_forward_pre_hook(lambda m, a: self.y.append(a[0].detach().clone())),
        ]

    def remove(self):
        for h in self.handles:
            h.remove()


def upstream_ddim(diffusion, model, z, labels, cfg_scale, progressive=False):
    """DiT's sample.py (src/sample.py) with ddim_sample_loop in place of p_sample_loop: with guidance the batch is
    doubled with the null class num_classes and forward_with_cfg is the model, and the first half is kept; without,
    model.forward with the labels (DiT's sample_ddp.py when cfg_scale <= 1). eta 0, clip_denoised False, noise z.
    Returns (samples, per-step outputs of ddim_sample_loop_progressive or None)."""
    device = z.device  # the model is a bound method, which has no .parameters(): the loop needs device
    y = torch.tensor(labels, dtype=torch.int64, device=device)
    if cfg_scale != 1:
        n = len(labels)
        z = torch.cat([z, z], 0)
        y_null = torch.tensor([TINY_DIT["num_classes"]] * n, device=device)
        y = torch.cat([y, y_null], 0)
        model_kwargs = dict(y=y, cfg_scale=cfg_scale)
        sample_fn = model.forward_with_cfg
    else:
        model_kwargs = dict(y=y)
        sample_fn = model.forward
    torch.manual_seed(SEED_GLOBAL)
    steps = None
    with torch.no_grad():
        if progressive:
            steps = list(diffusion.ddim_sample_loop_progressive(
                sample_fn, z.shape, noise=z, clip_denoised=False, model_kwargs=model_kwargs, device=device,
                progress=False, eta=0.0))
            samples = steps[-1]["sample"]
        else:
            samples = diffusion.ddim_sample_loop(
                sample_fn, z.shape, noise=z, clip_denoised=False, model_kwargs=model_kwargs, device=device,
                progress=False, eta=0.0)
    if cfg_scale != 1:
        samples, _ = samples.chunk(2, dim=0)  # remove the null class samples
    return samples, steps


def float64_ddim(model, z, labels, cfg_scale, guided, timestep_map, model_timesteps=None):
    """The same DDIM written independently of upstream's diffusion code, in float64 as zoo's GaussianDiffusion
    computes a step (the schedule, x0 = sqrt(1/abar) x - sqrt(1/abar - 1) eps, eps re-derived from x0, the update;
    the guidance in float64 rounded to float32; x rounded to float32 after each step), calling the same float32
    model at the original timesteps. Only to measure how far a float64 implementation lands from upstream's float32
    one; it is not what the fixtures hold. `model_timesteps` (default: timestep_map) are what the model is given
    at each respaced index, to measure what giving it other values would change."""
    betas = np.linspace(0.0001, 0.02, 1000, dtype=np.float64)
    ac_orig = np.cumprod(1.0 - betas)
    new_betas, last = [], 1.0
    for i in timestep_map:
        new_betas.append(1 - ac_orig[i] / last)
        last = ac_orig[i]
    ac = np.cumprod(1.0 - np.array(new_betas, dtype=np.float64))
    ac_prev = np.append(1.0, ac[:-1])
    x = z.numpy().astype(np.float32)
    n, null = len(labels), TINY_DIT["num_classes"]
    c = x.shape[1]
    for k in reversed(range(len(timestep_map))):
        t_orig = (model_timesteps or timestep_map)[k]
        xt = torch.from_numpy(x)
        with torch.no_grad():
            if cfg_scale != 1:
                out = model.forward(torch.cat([xt, xt], 0), torch.tensor([t_orig] * 2 * n),
                                    torch.tensor(labels + [null] * n)).numpy()
                cond, uncond = out[:n].astype(np.float64), out[n:].astype(np.float64)
                eps = out[:n, :c].astype(np.float64)
                eps[:, :guided] = (uncond[:, :guided] + cfg_scale * (cond[:, :guided] - uncond[:, :guided])) \
                    .astype(np.float32).astype(np.float64)
            else:
                eps = model.forward(xt, torch.tensor([t_orig] * n), torch.tensor(labels)).numpy()[:, :c] \
                    .astype(np.float64)
        recip, recipm1 = np.sqrt(1.0 / ac[k]), np.sqrt(1.0 / ac[k] - 1)
        xd = x.astype(np.float64)
        x0 = recip * xd - recipm1 * eps
        eps2 = (recip * xd - x0) / recipm1
        x = (x0 * np.sqrt(ac_prev[k]) + np.sqrt(max(0.0, 1 - ac_prev[k])) * eps2).astype(np.float32)
    return x


def sample_fixtures(tree, dit, diffusion_pkg, model):
    """The DDIM samples (guided and not) with upstream's diffusion code, and their checks."""
    r = {"guide_line": check_sampling_sources(tree, dit, diffusion_pkg)}
    create_diffusion = diffusion_pkg.create_diffusion
    diffusion = create_diffusion(str(SAMPLE_STEPS))
    expect_map = [round(i * 999 / (SAMPLE_STEPS - 1)) for i in range(SAMPLE_STEPS)]
    assert diffusion.timestep_map == expect_map and diffusion.num_timesteps == SAMPLE_STEPS, diffusion.timestep_map
    assert diffusion.original_num_steps == 1000
    assert isinstance(diffusion, diffusion_pkg.respace.SpacedDiffusion)
    assert diffusion.model_var_type == diffusion_pkg.gaussian_diffusion.ModelVarType.LEARNED_RANGE
    assert diffusion.model_mean_type == diffusion_pkg.gaussian_diffusion.ModelMeanType.EPSILON
    assert diffusion.alphas_cumprod.dtype == np.float64 and diffusion.alphas_cumprod_prev[0] == 1.0
    r["timestep_map"] = list(diffusion.timestep_map)
    r["abar0"] = float(diffusion.alphas_cumprod[0])
    c, n = TINY_DIT["in_channels"], TINY_DIT["input_size"]
    nb = len(SAMPLE_LABELS)
    gen = torch.Generator().manual_seed(SEED_NOISE)
    z = torch.randn(nb, c, n, n, generator=gen, dtype=torch.float32)
    assert not model.training

    # forward_with_cfg guides the first 3 output channels only; the rest come from each half as the model gave them
    gen = torch.Generator().manual_seed(SEED_NOISE + 1)
    probe = torch.randn(nb, c, n, n, generator=gen)
    yy = torch.tensor(SAMPLE_LABELS + [TINY_DIT["num_classes"]] * nb)
    tt = torch.tensor([500] * 2 * nb)
    with torch.no_grad():
        got = model.forward_with_cfg(torch.cat([probe, probe * 7], 0), tt, yy, SAMPLE_CFG)  # 2nd half ignored
        full = model.forward(torch.cat([probe, probe], 0), tt, yy)
    cond, uncond = full[:nb], full[nb:]
    guided_all = uncond + SAMPLE_CFG * (cond - uncond)
    assert torch.equal(got[:nb, :GUIDED_CHANNELS], guided_all[:, :GUIDED_CHANNELS])
    assert torch.equal(got[nb:, :GUIDED_CHANNELS], guided_all[:, :GUIDED_CHANNELS])
    assert torch.equal(got[:nb, GUIDED_CHANNELS:], cond[:, GUIDED_CHANNELS:])
    assert torch.equal(got[nb:, GUIDED_CHANNELS:], uncond[:, GUIDED_CHANNELS:])
    assert not torch.equal(got[:nb, GUIDED_CHANNELS:c], guided_all[:, GUIDED_CHANNELS:c])  # channel 3: unguided
    r["ch3_gap"] = float((got[:nb, GUIDED_CHANNELS:c] - guided_all[:, GUIDED_CHANNELS:c]).abs().max())

    for name, scale in (("cfg", SAMPLE_CFG), ("nocfg", 1)):
        calls = ModelCalls(model)
        samples, _ = upstream_ddim(diffusion, model, z.clone(), SAMPLE_LABELS, scale)
        calls.remove()
        assert samples.dtype == torch.float32 and tuple(samples.shape) == (nb, c, n, n), samples.shape
        assert bool(torch.isfinite(samples).all())
        # the timesteps and labels the DiT received: one forward per step, the original timesteps, descending
        assert len(calls.t) == SAMPLE_STEPS and len(calls.y) == SAMPLE_STEPS
        width = 2 * nb if scale != 1 else nb
        want_y = SAMPLE_LABELS + [TINY_DIT["num_classes"]] * nb if scale != 1 else SAMPLE_LABELS
        for k, (t_call, y_call) in enumerate(zip(calls.t, calls.y)):
            assert t_call.dtype == torch.int64 and t_call.tolist() == [expect_map[-1 - k]] * width, t_call
            assert y_call.tolist() == want_y, y_call
        r[name] = dict(samples=samples, t_seen=[int(t_call[0]) for t_call in calls.t], width=width,
                       t_dtype=str(calls.t[0].dtype).replace("torch.", ""), y_seen=want_y)
        # deterministic: again, and after another global seed (eta 0: ddim_sample's randn_like is multiplied by 0)
        again, _ = upstream_ddim(diffusion, model, z.clone(), SAMPLE_LABELS, scale)
        assert torch.equal(again, samples)
        torch.manual_seed(SEED_GLOBAL + 999)
        state = torch.get_rng_state()
        with torch.no_grad():
            zz = torch.cat([z, z], 0) if scale != 1 else z
            y_in = torch.tensor(want_y)
            kw = dict(y=y_in, cfg_scale=scale) if scale != 1 else dict(y=y_in)
            fn = model.forward_with_cfg if scale != 1 else model.forward
            other = diffusion.ddim_sample_loop(fn, zz.shape, noise=zz.clone(), clip_denoised=False, model_kwargs=kw,
                                               device=zz.device, progress=False, eta=0.0)
        assert not torch.equal(torch.get_rng_state(), state)  # it did draw from the global generator ...
        assert torch.equal(other[:nb], samples)  # ... and that changed nothing
        # the progressive loop: the same result, and its last step returns its x0 prediction exactly
        prog, steps = upstream_ddim(diffusion, model, z.clone(), SAMPLE_LABELS, scale, progressive=True)
        assert torch.equal(prog, samples) and len(steps) == SAMPLE_STEPS
        assert torch.equal(steps[-1]["sample"], steps[-1]["pred_xstart"])
        assert not torch.equal(steps[-2]["sample"], steps[-2]["pred_xstart"])
        r[name]["last_step_delta"] = float((steps[-1]["sample"] - steps[-2]["sample"]).abs().max())
        # a float64 implementation written independently: how far it lands
        ref = float64_ddim(model, z, SAMPLE_LABELS, scale, GUIDED_CHANNELS, expect_map)
        r[name]["f64_diff"] = float(np.abs(ref - samples.numpy()).max())
        r[name]["f64_rel"] = float(np.abs(ref - samples.numpy()).max() / np.abs(samples.numpy()).max())
        r[name]["absmax"] = float(samples.abs().max())
        if scale != 1:  # guiding all 4 latent channels (zoo's default without --guided-channels) gives another sample
            ref_all = float64_ddim(model, z, SAMPLE_LABELS, scale, c, expect_map)
            r[name]["all_channels_diff"] = float(np.abs(ref_all - samples.numpy()).max())
        # the model given the respaced indices 0..9 instead of the original timesteps: another sample
        ref_idx = float64_ddim(model, z, SAMPLE_LABELS, scale, GUIDED_CHANNELS, expect_map,
                               model_timesteps=list(range(SAMPLE_STEPS)))
        r[name]["index_diff"] = float(np.abs(ref_idx - samples.numpy()).max())
    assert not torch.equal(r["cfg"]["samples"], r["nocfg"]["samples"])
    gap = (r["cfg"]["samples"] - r["nocfg"]["samples"]).abs()
    r["cfg_gap_max"], r["cfg_gap_mean"] = float(gap.max()), float(gap.mean())
    r["scale_T"] = float(np.sqrt(1.0 / diffusion.alphas_cumprod[-1]))
    r["ratio"] = float(r["cfg"]["samples"].std() / z.std())
    r["z"] = z
    return r


# ----------------------------------------------------------------------------------------------------------------
# README


def md_table(rows, header):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def sampling_readme(s):
    smp = s["smp"]
    cfg, nocfg = smp["cfg"], smp["nocfg"]
    nb = len(SAMPLE_LABELS)
    c, n = TINY_DIT["in_channels"], TINY_DIT["input_size"]
    null = TINY_DIT["num_classes"]
    steps, scale, g, labels = SAMPLE_STEPS, SAMPLE_CFG, GUIDED_CHANNELS, SAMPLE_LABELS
    last = steps - 1
    classes = ",".join(str(v) for v in labels)
    zoo = (f"zoo sample --plan plan.json --config tiny.json --checkpoint {CHECKPOINT} --noise sample_noise.npy \\\n"
           f"        --sampler ddim --steps {steps}")
    tail = f"--classes {classes} --per-class 1 \\\n        --clip-denoised off --out OUT.png --npy OUT.npy"
    sampler = f"DiTSampler(kind: .ddim, steps: {steps}, cfgScale: {scale}, guidedChannels: {g}, clipDenoised: false)"
    return f"""## DDIM samples (`sample_*.npy`): upstream's diffusion code

The reloaded model (the checkpoint's values, eval mode) was sampled with the grafting repository's own diffusion code
(`src/diffusion`: `create_diffusion`, `SpacedDiffusion`, `GaussianDiffusion.ddim_sample_loop`, imported from the same
tree, nothing stubbed: it imports only numpy, torch, math and enum; `progress=False`, so tqdm is never imported).
The calls are `src/sample.py`'s (facebookresearch/DiT's `sample.py`), with `ddim_sample_loop` in place of its
`p_sample_loop` (upstream's sample.py samples with DDPM; DDIM has the same arguments plus `eta`), the initial
noise given as `noise=`, and `device` passed because a bound method has no `.parameters()` to take it from:

```python
torch.set_grad_enabled(False)                   # (here: torch.no_grad())
diffusion = create_diffusion(str({steps}))
z = torch.randn({nb}, {c}, {n}, {n}, generator=torch.Generator().manual_seed({SEED_NOISE}))  # sample_noise.npy
y = torch.tensor({labels})                          # sample_labels.npy
# sample_ddim.npy: classifier-free guidance as sample.py
z = torch.cat([z, z], 0)
y_null = torch.tensor([{null}] * {nb})                     # the null class: num_classes
y = torch.cat([y, y_null], 0)
model_kwargs = dict(y=y, cfg_scale={scale})
torch.manual_seed({SEED_GLOBAL})
samples = diffusion.ddim_sample_loop(model.forward_with_cfg, z.shape, noise=z, clip_denoised=False,
                                     model_kwargs=model_kwargs, device='cpu', progress=False, eta=0.0)
samples, _ = samples.chunk(2, dim=0)            # the first half: labels {labels}
# sample_ddim_nocfg.npy: no guidance (DiT's sample_ddp.py when cfg_scale <= 1), z not doubled
samples = diffusion.ddim_sample_loop(model.forward, z.shape, noise=z, clip_denoised=False,
                                     model_kwargs=dict(y=torch.tensor({labels})), device='cpu',
                                     progress=False, eta=0.0)
```

A test should check that (zoo draws nothing when `--noise` is given and DDIM with eta 0 adds no noise, so `--seed`
is irrelevant; `--classes {classes} --per-class 1` gives the labels `{labels}` in that order, one image per class)

    {zoo} --cfg {scale} --guided-channels {g} {tail}

reproduces `sample_ddim.npy`, and that the same with `--cfg 1` and without `--guided-channels`

    {zoo} --cfg 1 {tail}

reproduces `sample_ddim_nocfg.npy`. (`--clip-denoised off` is zoo's default for a {c}-channel model and matches
`clip_denoised=False`. `--out` is required by `zoo sample`, but a {c}-channel model makes latents, not RGB: zoo
writes `--npy` and then exits with an error saying so, so a test reads OUT.npy whatever the exit status, or calls
`{sampler}` with `initialNoise` = `sample_noise.npy` and `labels: {labels}` directly.)

What the script checked about upstream's sampling, and what a reimplementation must match:

- **`--guided-channels {g}`.** `DiT.forward_with_cfg` (`src/models/dit.py`) runs the model once on `[half; half]`
  (`half` = the batch's first half; the second half of `x` is ignored) and guides only
  `{smp['guide_line']}`: `uncond + cfg_scale * (cond - uncond)` on the first {g} output
  channels, while channel {g} (the last epsilon channel) and the {c} variance channels keep each half's own output
  (checked bit for bit; on a probe, channel {g} of the conditional half differs from its guided value by up to
  {smp['ch3_gap']:.3g}). The kept first half is therefore guided on channels 0-{g - 1} and conditional on channel {g},
  which is what zoo's `--guided-channels {g}` computes. Guiding all {c} latent channels (zoo's default without
  `--guided-channels`) gives a sample up to {cfg['all_channels_diff']:.3g} away from `sample_ddim.npy` (measured with
  the script's float64 re-derivation).
- **The timesteps the model receives.** `create_diffusion('{steps}')` keeps the original steps
  `{smp['timestep_map']}` (`space_timesteps(1000, '{steps}')`: stride 999/{last}). The loop runs
  over the respaced indices {last}, ..., 0, but `SpacedDiffusion` wraps the model in `_WrappedModel`, whose
  `new_ts = map_tensor[ts]` maps each index back to its original timestep (the `rescale_timesteps` scaling is
  commented out upstream), so the DiT's `forward` receives, step by step (recorded with hooks on `t_embedder` and
  `y_embedder`), the {cfg['t_dtype']} timesteps `{cfg['t_seen']}`, each repeated over the batch
  ({cfg['width']} rows with labels `{cfg['y_seen']}` under guidance, {nocfg['width']} rows with labels
  `{nocfg['y_seen']}` without), never the indices 0-{last}. The schedule is that of the respaced process:
  `alphas_cumprod` of the kept steps (betas `1 - abar_t / abar_prev_kept`), not the original betas at those steps.
- **The last step.** At index 0 (original timestep 0) `alpha_bar_prev` is 1, so DDIM returns its x0 prediction
  exactly: `sample = pred_xstart = sqrt(1/abar_0) x - sqrt(1/abar_0 - 1) eps` with `abar_0` = {smp['abar0']!r}
  (checked bit for bit on `ddim_sample_loop_progressive`; that step moves the sample by up to
  {cfg['last_step_delta']:.3g} with guidance, {nocfg['last_step_delta']:.3g} without). There is no separate final
  denoising call; the model runs exactly {steps} times.
- **float32, not float64.** The schedule is computed in float64 (numpy), but `_extract_into_tensor` casts each
  coefficient to float32 (`[timesteps].float()`) before any tensor arithmetic, so every step of upstream's DDIM runs
  in float32: `pred_xstart` from the float32 coefficients, `eps` re-derived from it
  (`(sqrt(1/abar) x - pred_xstart) / sqrt(1/abar - 1)`, not the model's epsilon as is), `sqrt(alpha_bar_prev)` and
  `sqrt(1 - alpha_bar_prev - sigma^2)` taken in float32, and the guidance `uncond + {scale} * (cond - uncond)` in
  float32. A float64 implementation (such as zoo's `GaussianDiffusion.ddimSample`, which rounds x to float32 after
  each step) will not be bit-identical: the script's own float64 re-derivation, written independently of upstream's
  diffusion code and calling the same float32 model, differs from `sample_ddim.npy` by at most
  {cfg['f64_diff']:.3g} (relative to its largest value {cfg['absmax']:.4g}: {cfg['f64_rel']:.2g}) and from
  `sample_ddim_nocfg.npy` by at most {nocfg['f64_diff']:.3g} ({nocfg['f64_rel']:.2g} relative). A Swift test should
  compare with a tolerance, not bit for bit.
- **No randomness.** With `eta=0`, `ddim_sample` still draws `th.randn_like(x)` from the global generator at every
  step but multiplies it by `sigma = 0`: rerunning after another `torch.manual_seed` gave identical samples (checked),
  and so did a second run. The only random input is `sample_noise.npy`.
- **Large values, small model share.** The model is untrained (random weights), so its epsilon does not cancel the
  noise: DDIM's first step divides by `sqrt(abar_999)`, and the samples are essentially `x_T` scaled by about
  `sqrt(1/abar_999)` = {smp['scale_T']:.4g} (their standard deviation is {smp['ratio']:.4g} times the noise's;
  largest value {cfg['absmax']:.4g}). What the model contributes is much smaller: `sample_ddim.npy` and
  `sample_ddim_nocfg.npy` differ by at most {smp['cfg_gap_max']:.3g} (mean {smp['cfg_gap_mean']:.3g}); giving the
  model the respaced indices 0-{last} instead of the original timesteps would move the samples by up to
  {cfg['index_diff']:.3g} (guided) and {nocfg['index_diff']:.3g} (unguided); guiding all {c} channels by
  {cfg['all_channels_diff']:.3g}. A tolerance well below those (e.g. an absolute 1e-3, or 1e-5 relative to the
  largest value) and above the float32-vs-float64 gap of a few 1e-4 tells a correct implementation from these
  mistakes.

"""


def write_readme(out, s):
    attn = md_table([(f"`{k}`", shape, dtype) for k, shape, dtype in s["attn_listing"]], ["key", "shape", "dtype"])
    full = md_table([(f"`{k}`", shape, dtype) for k, shape, dtype in s["listing"]], ["key", "shape", "dtype"])
    docs = md_table([(f"`{n}`", up, f"`{doc}`" if doc else "-", ev, "yes" if ok else "**no**")
                     for n, up, doc, ev, ok in s["docs_listing"]],
                    ["name", "Hyena_Y shape", "OPERATORS.md section 6", "= (D 16, ki 4)", "same"])
    problems = ("None: the names and shapes are the same, and the defaults in the table are the ones assumed."
                if not s["problems"] else "**Mismatches:**\n\n" + "\n".join(f"- {p}" for p in s["problems"]))
    files = md_table([(f"`{n}`", size, what) for n, size, what in s["files"]], ["file", "bytes", "contents"])
    text = f"""# Grafted (hybrid) DiT fixture: the grafting paper's Hyena-Y in a tiny DiT

Written by `scripts/make-hybrid-fixtures` (`scripts/make_hybrid_fixtures.py`); do not edit by hand. Regenerate with

    {s['command']}

(`--grafting` takes a checkout of keshik6/grafting or a git directory such as a bare mirror; the wrapper fetches the
causal-conv1d sdist with `pip download` unless `--causal-conv1d PATH` is given.)

`{CHECKPOINT}` is a grafted DiT made with the REAL upstream code of the grafting paper (keshik6/grafting, "Exploring
Diffusion Transformer Designs via Grafting", arXiv 2506.05340), imported at run time from the upstream tree (nothing of
it is copied into this repository), saved in the layout of the paper's released grafted checkpoints (`model.pt`):

    torch.save({{'ema': model.state_dict()}}, '{CHECKPOINT}')

that is, a dict with the one key `'ema'` holding the whole model's state dict (`src/sample.py` and `src/graft.py`
load it with `torch.load(path)['ema']` and `model.load_state_dict(state_dict, strict=True)`). A test should check
that

    zoo dit forward --plan plan.json --config tiny.json --checkpoint {CHECKPOINT} \\
        --input x.npy --timesteps t.npy --labels y.npy --output OUT.npy

reproduces `out.npy`, and the DDIM fixtures `sample_*.npy` (section "DDIM samples" below) are the same model sampled
with the grafting repository's own diffusion code, for `zoo sample --noise sample_noise.npy --sampler ddim ...`.

## Provenance

| what | upstream | version |
|---|---|---|
| DiT | keshik6/grafting `src/models/dit.py` (`DiT`; facebookresearch/DiT's `models.py` with its `PatchEmbed`, `Attention`, `Mlp` from timm) | commit `{s['commit']}` ({s['how']}) |
| Hyena-Y | keshik6/grafting `src/operators/hyena/hyena_y.py` (`Hyena_Y`), `{HYENA_Y_YAML}` | same commit |
| diffusion | keshik6/grafting `src/diffusion` (`create_diffusion`, `SpacedDiffusion`, `_WrappedModel`, `GaussianDiffusion.ddim_sample_loop`; facebookresearch/DiT's `diffusion`), `src/sample.py` (the CFG setup and loop call) | same commit |
| grafting | keshik6/grafting `src/graft.py` (`graft_dit`: `model.blocks[index].attn = scion_model` for `operator_type 'mha'`), `{SAMPLING_YAML}` (`graft_indexes` 1, 3, ..., 27) | same commit |
| timm | `timm` (PatchEmbed, Attention, Mlp) | timm {s['timm_version']} |
| causal-conv1d | Dao-AILab/causal-conv1d `causal_conv1d/causal_conv1d_interface.py` (`causal_conv1d_ref`) | {s['cc_version']} |

Environment: Python {sys.version.split()[0]}, torch {torch.__version__}, numpy {np.__version__}, one thread
(`torch.set_num_threads(1)`, `torch.use_deterministic_algorithms(True)`), CPU.

## How the model was made

1. `model = DiT(**tiny.json)` (`{json.dumps(TINY_DIT)}`) after `torch.manual_seed({SEED_BUILD})`: {s['tokens']} tokens
   of width {TINY_DIT['hidden_size']}, {TINY_DIT['depth']} blocks.
2. The graft, as `src/graft.py`'s `graft_dit` does it for `operator_type 'mha'`, `operator_name 'hyena_y'`: for each
   index in `{GRAFT_INDEXES}` (the odd blocks, the paper's 50% interleaving of `{SAMPLING_YAML}`), a new
   `Hyena_Y(**config)` (as `ReplacementFactory._create_hyena_y_operator`) and `model.blocks[index].attn = scion_model`.
   `config` is `{HYENA_Y_YAML}` (`{json.dumps(s['paper_config'])}`) with `d_model` and `l_max` replaced by
   {HYENA_Y_OVERRIDES['d_model']} and {HYENA_Y_OVERRIDES['l_max']}; the constructor's arguments after its defaults:
   `Hyena_Y({', '.join(f'{k}={v!r}' for k, v in s['full'].items())})`. `graft_dit` itself is not called: it only
   builds the `DiT_models` presets (DiT-XL/2 ...) with `num_classes=1000`, and its imports need `matplotlib` and
   torchvision's `download_url` (`src/utils.py`, `src/models/download.py`); the script checks that `src/graft.py`
   and `src/replacement_factory.py` hold the two lines it repeats.
3. Every parameter of the whole model (all {s['n_params']} of them, `pos_embed` included; the model has no buffers)
   replaced by `randn * {PARAM_SCALE}` after `torch.manual_seed({SEED_PARAMS})`, in `named_parameters()` order, so that
   nothing is zero (DiT's adaLN-Zero modulations and final layer start at zero, Hyena-Y's inner filter as the
   identity) and `pos_embed` is not the sin-cos table.
4. `model.eval()`, then under `torch.no_grad()`: `out = model(x, t, y)` with `x` = `torch.randn({BATCH}, 4, 8, 8)`
   (generator seed {SEED_X}), `t` = `{T_VALUES}` (int64 timesteps; `TimestepEmbedder` takes `t[:, None].float()`),
   `y` = `{Y_VALUES}` (int64 labels; in eval mode no label is dropped). The graft was used: Hyena-Y's
   `causal_conv1d_fn` ran {s['conv_calls']} time(s) in that forward.

Checked before writing this: `torch.load('{CHECKPOINT}', weights_only=True)` is `{{'ema': ...}}` with exactly the
model's tensors (names, order, dtypes, values); a freshly built grafted model (construction seed {SEED_FRESH}) loads
`['ema']` with `load_state_dict(strict=True)` and reproduces `out` bit for bit; a DiT without the graft refuses it
with `strict=True` ({s['plain_refusal']}).

{sampling_readme(s)}## What was stubbed, and why it cannot change the computation

- **`causal_conv1d`** (Dao-AILab/causal-conv1d, a CUDA extension; the paper's repository pins it as the submodule
  `demo_notebooks/causal-conv1d` at {s['cc_submodule']}): `hyena_y.py` does `from causal_conv1d import
  causal_conv1d_fn`, which cannot be built or run without CUDA. In its place is a module `causal_conv1d` whose
  `causal_conv1d_fn` has upstream's signature (checked against the AST of upstream's definition) and returns
  upstream's own pure-PyTorch reference `causal_conv1d_ref` with the same arguments. `causal_conv1d_ref` was executed
  from the source text of the package's `causal_conv1d/causal_conv1d_interface.py` ({s['cc_source']}{s['cc_pin_note']}): only lines
  {s['cc_lines']} (`import torch`, `import torch.nn.functional as F` and the definition of `causal_conv1d_ref`, whose
  only globals are {', '.join(f'`{n}`' for n in s['cc_needs'])}); the file's import of the compiled extension
  (`causal_conv1d.cpp_functions`) never ran. Hyena-Y's `CausalConv1D_filter.forward` calls
  `causal_conv1d_fn(input, w, bias=self.bias, activation=None, seq_idx=None)` with no initial states, and on that
  path `causal_conv1d_ref` is exactly `F.conv1d(x, w[:, None], bias, padding=k-1, groups=D)[..., :L]`, the causal
  depthwise convolution that the CUDA kernel computes (and against which the package's own tests check the kernel):
  the script asserted bit-for-bit equality on random inputs of shapes (B, D, L, k) =
  {', '.join(str(c) for c in s['conv_checks'])}, with and without bias, directly and through the stand-in, and that
  `CausalConv1D_filter`'s output equals `nn.Conv1d`'s own forward (padding `k-1`) cut to `L`. The stand-in therefore
  computes the same function as the kernel; only the floating-point summation order could differ from the GPU
  kernel's, and the fixture records what this CPU PyTorch computed. It holds no parameters, so it cannot change the
  state dict. {'(A real `causal_conv1d` was installed in the environment; the stand-in was used in its place.)' if s['real_conv'] else ''}
- **torchvision**: {s['tv_note']}

Upstream modules loaded from the tree: {', '.join(f'`{n}`' for n in s['loaded'])}.

## Files

{files}

`tiny.json` equals `Tests/HostTests/Fixtures/PyTorch/tiny_dit.json` (DiT's constructor names). `plan.json`:

```json
{s['plan_text'].rstrip()}
```

`layers [1]` is the paper's odd-block interleaving (our `interleave-50` at depth 2). Attributes: only those whose
upstream value differs from our `hyena_y` default (docs/OPERATORS.md section 6) are given: `l_max` {s['full']['l_max']}
(ours 1000000; the tiny DiT has {s['tokens']} tokens, so it changes nothing but the longest `L` accepted). The others
equal our defaults: `inner_filter_len` 4, `order` 2, `inner_factor` 1, `num_heads` 1, `num_blocks` 1. `d_model`
({s['full']['d_model']}) is the width, not an attribute; upstream's `activation` ("id") has no OperatorZoo attribute:
`Hyena_Y` stores it but its forward never reads it (checked in its source).

## Block 1's `attn` (Hyena_Y) in the checkpoint

{attn}

Against the `hyena_y` parameters of docs/OPERATORS.md section 6 (keys without the `blocks.1.attn.` prefix):

{docs}

{problems}

## The whole state dict (`['ema']`, {len(s['listing'])} tensors, float32)

{full}
"""
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write(text)


# ----------------------------------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grafting", required=True, metavar="DIR",
                        help="keshik6/grafting: a checkout, or a git directory (bare mirror or .git)")
    parser.add_argument("--grafting-rev", default="HEAD", metavar="REV",
                        help="the revision to extract when --grafting is a git directory (default HEAD)")
    parser.add_argument("--causal-conv1d", required=True, metavar="PATH",
                        help="Dao-AILab/causal-conv1d: the sdist .tar.gz, or a folder holding causal_conv1d/")
    parser.add_argument("--out", default=DEFAULT_OUT, help="output folder (default: %(default)s)")
    parser.add_argument("--command-line", default=None, help=argparse.SUPPRESS)  # what the wrapper was given
    args = parser.parse_args()

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    s = {"command": args.command_line or " ".join(["scripts/make_hybrid_fixtures.py"] + sys.argv[1:])}

    with tempfile.TemporaryDirectory(prefix="hybrid-fixtures-") as tmp:
        # causal-conv1d: the reference, checked
        cc_tree, cc_version, cc_commit = causal_conv1d_tree(args.causal_conv1d, tmp)
        ref, fn_sig, cc_lines, cc_needs = load_causal_conv1d_ref(cc_tree)
        stand_in = make_causal_conv1d_module(ref, fn_sig, cc_version)
        s["conv_checks"] = check_causal_conv1d_ref(ref, stand_in.causal_conv1d_fn)
        log(f"causal-conv1d {cc_version} from {cc_tree}: causal_conv1d_ref == F.conv1d(padding=k-1)[..., :L] "
            f"on {s['conv_checks']}")
        s.update(cc_version=(f"version {cc_version}, commit `{cc_commit}`" if cc_commit
                             else f"PyPI sdist causal-conv1d {cc_version}"),
                 cc_source=("a checkout" if cc_commit else f"the PyPI sdist causal-conv1d {cc_version}"),
                 cc_lines=", ".join(f"{a}-{b}" if a != b else f"{a}" for a, b in cc_lines), cc_needs=cc_needs)

        # grafting: the tree and its modules
        tree, commit, how = grafting_tree(args.grafting, args.grafting_rev, tmp)
        log(f"grafting: {how} (commit {commit})")
        check_paper_layout(tree)
        dit, hyena_y, diffusion_pkg, timm, tv_stubbed, real_conv, loaded = import_upstream(tree, stand_in)
        Hyena_Y = hyena_y.Hyena_Y
        assert "activation" not in inspect.getsource(Hyena_Y.forward)
        config, paper_config, full = hyena_y_config(tree, Hyena_Y)
        cc_submodule = submodule_commit(args.grafting, commit, "demo_notebooks/causal-conv1d")
        s["cc_pin_note"] = (", the version the paper pins" if cc_version == CAUSAL_CONV1D_PIN[1] and
                            CAUSAL_CONV1D_PIN[0] in cc_submodule else
                            f"; the paper pins {cc_submodule}")
        s.update(commit=commit or "unknown (not a git checkout)", how=how, timm_version=timm.__version__,
                 real_conv=real_conv, loaded=loaded, paper_config=paper_config, full=full, cc_submodule=cc_submodule)

        # the CausalConv1D_filter is nn.Conv1d's causal convolution
        gen = torch.Generator().manual_seed(8)
        filt = hyena_y.CausalConv1D_filter(in_channels=16, out_channels=16, kernel_size=4, groups=16, padding=3)
        with torch.no_grad():
            filt.weight.copy_(torch.randn(filt.weight.shape, generator=gen))
            filt.bias.copy_(torch.randn(filt.bias.shape, generator=gen))
            v = torch.randn(2, 16, 16, generator=gen)
            assert torch.equal(filt(v), nn.Conv1d.forward(filt, v)[..., :16])
        CONV_CALLS.clear()

        # the model
        torch.manual_seed(SEED_BUILD)
        model = build(dit, Hyena_Y, config)
        for index in range(TINY_DIT["depth"]):
            want = Hyena_Y if index in GRAFT_INDEXES else dit.Attention
            assert type(model.blocks[index].attn) is want, (index, type(model.blocks[index].attn))
        names = rerandomise(model, SEED_PARAMS)
        assert not list(model.buffers())
        model.eval()
        gen = torch.Generator().manual_seed(SEED_X)
        c, n = TINY_DIT["in_channels"], TINY_DIT["input_size"]
        x = torch.randn(BATCH, c, n, n, generator=gen, dtype=torch.float32)
        t = torch.tensor(T_VALUES, dtype=torch.int64)
        y = torch.tensor(Y_VALUES, dtype=torch.int64)
        with torch.no_grad():
            out_t = model(x, t, y)
        c_out = 2 * c if TINY_DIT["learn_sigma"] else c
        assert out_t.dtype == torch.float32 and tuple(out_t.shape) == (BATCH, c_out, n, n), out_t.shape
        assert bool(torch.isfinite(out_t).all())
        s["conv_calls"] = len(CONV_CALLS)
        assert s["conv_calls"] == len(GRAFT_INDEXES), CONV_CALLS
        # t really is the timestep: another t gives another output
        with torch.no_grad():
            assert not torch.equal(model(x, t + 1, y), out_t)

        # the checkpoint, in the paper's layout, and its checks
        sd = model.state_dict()
        assert set(sd) == set(names)
        path = os.path.join(out, CHECKPOINT)
        torch.save({"ema": sd}, path)
        back = torch.load(path, weights_only=True)
        assert isinstance(back, dict) and list(back) == ["ema"], list(back)
        assert list(back["ema"]) == list(sd)
        for k in sd:
            assert back["ema"][k].dtype == sd[k].dtype and torch.equal(back["ema"][k], sd[k]), k
        torch.manual_seed(SEED_FRESH)
        fresh = build(dit, Hyena_Y, config)
        fresh.load_state_dict(torch.load(path, weights_only=True)["ema"], strict=True)
        fresh.eval()
        with torch.no_grad():
            out2 = fresh(x, t, y)
        assert torch.equal(out2, out_t), "the reloaded grafted model does not reproduce out"
        plain = dit.DiT(**TINY_DIT)
        try:
            plain.load_state_dict(back["ema"], strict=True)
            sys.exit("a DiT without the graft loaded the grafted checkpoint with strict=True")
        except RuntimeError as e:
            missing = sorted(k for k in plain.state_dict() if k not in sd)
            unexpected = sorted(k for k in sd if k not in plain.state_dict())
            assert str(e).startswith("Error(s) in loading state_dict"), e
            s["plain_refusal"] = (f"missing {', '.join(f'`{k}`' for k in missing)}; unexpected "
                                  f"{', '.join(f'`{k}`' for k in unexpected)}")

        save_npy(out, "x.npy", x.numpy().astype(np.float32))
        save_npy(out, "t.npy", t.numpy().astype(np.int64))
        save_npy(out, "y.npy", y.numpy().astype(np.int64))
        save_npy(out, "out.npy", out_t.numpy().astype(np.float32))
        for name, ref_t in (("x.npy", x), ("t.npy", t), ("y.npy", y), ("out.npy", out_t)):
            a = np.load(os.path.join(out, name), allow_pickle=False)
            assert a.dtype == ref_t.numpy().dtype and np.array_equal(a, ref_t.numpy()), name

        # DDIM samples of the same model with upstream's diffusion code (the reloaded model: the checkpoint's values)
        smp = sample_fixtures(tree, dit, diffusion_pkg, fresh)
        s["smp"] = smp
        sample_arrays = {
            "sample_noise.npy": smp["z"].numpy().astype(np.float32),
            "sample_labels.npy": np.array(SAMPLE_LABELS, dtype=np.int64),
            "sample_ddim.npy": smp["cfg"]["samples"].numpy().astype(np.float32),
            "sample_ddim_nocfg.npy": smp["nocfg"]["samples"].numpy().astype(np.float32),
        }
        for name, a in sample_arrays.items():
            save_npy(out, name, a)
            back_a = np.load(os.path.join(out, name), allow_pickle=False)
            assert back_a.dtype == a.dtype and back_a.shape == a.shape and np.array_equal(back_a, a), name
        for name in ("cfg", "nocfg"):
            log(f"DDIM {SAMPLE_STEPS} steps, {name}: model timesteps {smp[name]['t_seen']} "
                f"(batch {smp[name]['width']}, labels {smp[name]['y_seen']}); |sample| max "
                f"{smp[name]['absmax']:.6g}; float64 re-derivation differs by {smp[name]['f64_diff']:.3g}")
        log(f"  guiding all {c} channels instead of {GUIDED_CHANNELS} moves the guided sample by "
            f"{smp['cfg']['all_channels_diff']:.3g}")

        # OperatorZoo's description: the model configuration and the grafting plan
        if os.path.isfile(TINY_DIT_JSON):
            with open(TINY_DIT_JSON) as f:
                assert json.load(f) == TINY_DIT, "Tests/HostTests/Fixtures/PyTorch/tiny_dit.json differs from TINY_DIT"
        write_json(out, "tiny.json", TINY_DIT)
        attributes = {k: full[k] for k, default in ZOO_HYENA_Y_DEFAULTS.items() if full[k] != default}
        plan = {
            "name": "hyena_y-50-paper",
            "description": ("keshik6/grafting's 50% Hyena-Y graft (configs/sampling/mha_swaps/50p_hyena_y.yaml: the "
                            "odd blocks' attention) on the tiny DiT of tiny.json; the checkpoint is "
                            f"{CHECKPOINT}"),
            "grafts": [{"slot": "attn", "layers": GRAFT_INDEXES, "operator": OPERATOR_NAME,
                        "attributes": attributes}],
        }
        write_json(out, "plan.json", plan)
        with open(os.path.join(out, "plan.json")) as f:
            s["plan_text"] = f.read()

        # docs/OPERATORS.md section 6 against Hyena_Y's state dict
        prefix = f"blocks.{GRAFT_INDEXES[0]}.attn."
        attn_sd = {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}
        assert list(attn_sd) == list(model.blocks[GRAFT_INDEXES[0]].attn.state_dict())
        s["docs_listing"], s["problems"] = compare_with_docs(attn_sd, full)
        s["attn_listing"] = [(prefix + k, shape, dtype) for k, shape, dtype in state_listing(attn_sd)]
        s["listing"] = state_listing(sd)
        s["n_params"] = len(names)
        s["tokens"] = (TINY_DIT["input_size"] // TINY_DIT["patch_size"]) ** 2
        names_tv = sorted(set(upstream_fixtures.TORCHVISION_NAMES))
        s["tv_note"] = (
            "timm imports `torchvision` when it is imported (`timm.layers`, `timm.data`); `PatchEmbed`, `Attention` "
            "and `Mlp` use none of it. PyPI has no CPU torchvision wheel for Linux and its CUDA wheel cannot load "
            "beside a CPU torch, so every `torchvision` module was a stub (that of "
            "`scripts/make_upstream_state_fixtures.py`) whose names are placeholders that raise as soon as they are "
            "called or instantiated: the forward ran without raising, so it used none. Names timm looked up: "
            + ", ".join(f"`{n}`" for n in names_tv) + "."
            if tv_stubbed else "`torchvision` was installed and imported as it is.")

        log(f"Hyena_Y({', '.join(f'{k}={v!r}' for k, v in full.items())}) grafted into blocks {GRAFT_INDEXES}")
        log(f"block {GRAFT_INDEXES[0]} attn state dict:")
        for k, shape, dtype in s["attn_listing"]:
            log(f"  {k:36s} {str(shape):12s} {dtype}")
        log("against docs/OPERATORS.md section 6:")
        for nm, up, doc, ev, ok in s["docs_listing"]:
            log(f"  {nm:22s} Hyena_Y {str(up):12s} docs {str(doc):12s} = {str(ev):12s} {'same' if ok else 'DIFFERENT'}")
        for p in s["problems"]:
            log(f"  MISMATCH: {p}")
        if not s["problems"]:
            log("  no mismatch")
        log(f"plan.json: {json.dumps(plan)}")
        log(f"out: {tuple(out_t.shape)}, mean {out_t.mean().item():.6g}, std {out_t.std().item():.6g}")

        nb = len(SAMPLE_LABELS)
        what = {
            CHECKPOINT: "`torch.save({'ema': state_dict})` of the grafted DiT (float32)",
            "x.npy": f"input latents, float32 [{BATCH}, {c}, {n}, {n}]",
            "t.npy": f"timesteps, int64 [{BATCH}] = {T_VALUES}",
            "y.npy": f"class labels, int64 [{BATCH}] = {Y_VALUES}",
            "out.npy": f"`model(x, t, y)` in eval mode, float32 [{BATCH}, {c_out}, {n}, {n}]",
            "sample_noise.npy": f"DDIM's initial noise x_T (before the CFG doubling), float32 [{nb}, {c}, {n}, {n}]",
            "sample_labels.npy": f"the sampled classes, int64 [{nb}] = {SAMPLE_LABELS}",
            "sample_ddim.npy": (f"upstream DDIM, {SAMPLE_STEPS} steps, cfg {SAMPLE_CFG} on {GUIDED_CHANNELS} channels "
                                f"(the kept first half), float32 [{nb}, {c}, {n}, {n}]"),
            "sample_ddim_nocfg.npy": (f"upstream DDIM, {SAMPLE_STEPS} steps, no guidance (`model.forward`), "
                                      f"float32 [{nb}, {c}, {n}, {n}]"),
            "tiny.json": "the DiT configuration (DiT's constructor names)",
            "plan.json": "the grafting plan in OperatorZoo's format",
            "README.md": "this file",
        }
        # README.md lists the sizes: write it once to know its own size, then again (its length settles)
        readme_size = 0
        for _ in range(4):
            s["files"] = [(k, readme_size if k == "README.md" else os.path.getsize(os.path.join(out, k)), v)
                          for k, v in sorted(what.items())]
            write_readme(out, s)
            size = os.path.getsize(os.path.join(out, "README.md"))
            if size == readme_size:
                break
            readme_size = size
        assert os.path.getsize(os.path.join(out, "README.md")) == readme_size

    total = 0
    log(f"written to {out}:")
    for name in sorted(os.listdir(out)):
        size = os.path.getsize(os.path.join(out, name))
        total += size
        log(f"  {name:24s} {size:8d} bytes")
    log(f"  {'total':24s} {total:8d} bytes")
    assert set(os.listdir(out)) == set(what), sorted(os.listdir(out))
    assert total < 150_000, "the fixtures are too large"


if __name__ == "__main__":
    main()
