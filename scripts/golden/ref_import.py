"""Imports the official Wan2.1 modules copied into the git-ignored `.ref/` (see docs/models.md).

Only t5.py and vae.py are needed; their package-relative imports (`.tokenizers`, which pulls in
ftfy) and `einops` are stubbed when absent so the reference runs on a bare PyTorch install.
"""
import importlib.util
import os
import sys
import types

REF = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".ref", "wan", "modules")


def _stub_einops():
    try:
        import einops  # noqa: F401
        return
    except ImportError:
        pass
    mod = types.ModuleType("einops")

    def rearrange(x, pattern, **kw):
        p = pattern.replace(" ", "")
        if p == "bcthw->(bt)chw":
            b, c, t, h, w = x.shape
            return x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)
        if p == "(bt)chw->bcthw":
            t = kw["t"]
            bt, c, h, w = x.shape
            return x.reshape(bt // t, t, c, h, w).permute(0, 2, 1, 3, 4)
        raise NotImplementedError(pattern)

    mod.rearrange = rearrange
    sys.modules["einops"] = mod


def load(name):
    """Loads .ref/wan/modules/<name>.py as wan.modules.<name>."""
    _stub_einops()
    for pkg in ("wan", "wan.modules"):
        if pkg not in sys.modules:
            m = types.ModuleType(pkg)
            m.__path__ = []
            sys.modules[pkg] = m
    if "wan.modules.tokenizers" not in sys.modules:
        tok = types.ModuleType("wan.modules.tokenizers")
        tok.HuggingfaceTokenizer = None
        sys.modules["wan.modules.tokenizers"] = tok
    spec = importlib.util.spec_from_file_location(f"wan.modules.{name}", os.path.join(REF, f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    sys.modules[f"wan.modules.{name}"] = mod
    spec.loader.exec_module(mod)
    return mod
