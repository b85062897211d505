"""Our BiMamba mixer against a Caduceus-style BiMamba built from ``mamba_ssm``'s own ``Mamba`` module.

Skipped when mamba-ssm is not installed. On a CPU machine mamba-ssm can be installed without its CUDA
extension (``MAMBA_SKIP_CUDA_BUILD=TRUE MAMBA_FORCE_BUILD=TRUE pip install --no-build-isolation --no-deps
mamba-ssm`` plus ``einops``); its Python modules then import only with two stand-ins, installed here for
the duration of the test and removed afterwards:

- ``selective_scan_cuda`` (the missing CUDA extension, imported at module level but only called by the
  CUDA path), as an empty module;
- ``mamba_ssm.ops.triton.layer_norm`` when triton is missing (imported at module level by
  ``selective_scan_interface`` for its fused-norm helpers, which ``Mamba`` does not use), as an empty
  module; ``mamba_simple`` treats its other triton imports as optional;

and ``mamba_ssm/__init__.py`` (which imports the triton-only Mamba2/Mamba3) is bypassed by importing the
submodules from a bare package object. ``Mamba`` runs its slow path (``use_fast_path=False``, no
``causal_conv1d``), whose ``selective_scan_fn`` is replaced by mamba-ssm's own pure-torch
``selective_scan_ref`` on CPU. On a CUDA machine with a full install nothing is stubbed and the real
``selective_scan_fn`` runs (the tensors are moved to the GPU).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

import pytest
import torch

from prismtools.models.mamba import BiMambaMixer
from prismtools.models.scan import numba_available

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mamba_ssm") is None or importlib.util.find_spec("einops") is None,
    reason="mamba-ssm (and einops) not installed; pip install 'prismtools[cuda]'",
)

D_MODEL, D_STATE, D_CONV, EXPAND, DT_RANK = 16, 4, 4, 2, 3


def _ours(name: str) -> bool:
    return name in ("mamba_ssm", "selective_scan_cuda") or name.startswith("mamba_ssm.")


@pytest.fixture(scope="module")
def mamba_simple():
    """``mamba_ssm.modules.mamba_simple``, importable on CPU; its ``sys.modules`` entries restored afterwards."""
    before = {k for k in sys.modules if _ours(k)}
    saved = {k: v for k, v in sys.modules.items() if k == "mamba_ssm" or k.startswith("mamba_ssm.")}
    use_cuda = torch.cuda.is_available()
    try:
        module = importlib.import_module("mamba_ssm.modules.mamba_simple")
    except Exception:
        for k in [k for k in sys.modules if k == "mamba_ssm" or k.startswith("mamba_ssm.")]:
            del sys.modules[k]
        spec = importlib.util.find_spec("mamba_ssm")
        pkg = types.ModuleType("mamba_ssm")
        pkg.__path__ = list(spec.submodule_search_locations)
        sys.modules["mamba_ssm"] = pkg
        if importlib.util.find_spec("selective_scan_cuda") is None:
            sys.modules["selective_scan_cuda"] = types.ModuleType("selective_scan_cuda")
        if importlib.util.find_spec("triton") is None:
            importlib.import_module("mamba_ssm.ops.triton")
            stub = types.ModuleType("mamba_ssm.ops.triton.layer_norm")
            stub._layer_norm_fwd = None
            sys.modules["mamba_ssm.ops.triton.layer_norm"] = stub
        module = importlib.import_module("mamba_ssm.modules.mamba_simple")
        use_cuda = False
    interface = importlib.import_module("mamba_ssm.ops.selective_scan_interface")
    original = module.selective_scan_fn
    if not use_cuda:
        module.selective_scan_fn = interface.selective_scan_ref
    try:
        yield module, use_cuda
    finally:
        module.selective_scan_fn = original
        for k in [k for k in sys.modules if _ours(k) and k not in before]:
            del sys.modules[k]
        sys.modules.update(saved)
        assert all(k in before for k in sys.modules if _ours(k)), "stand-ins must not outlive the tests"


class CaduceusBiMamba(torch.nn.Module):
    """Caduceus' ``BiMambaWrapper`` (``bidirectional_strategy="add"``, ``bidirectional_weight_tie=True``)."""

    def __init__(self, mamba_cls) -> None:
        super().__init__()
        kw = dict(d_state=D_STATE, d_conv=D_CONV, expand=EXPAND, dt_rank=DT_RANK, use_fast_path=False)
        self.mamba_fwd = mamba_cls(D_MODEL, **kw)
        self.mamba_rev = mamba_cls(D_MODEL, **kw)
        self.mamba_rev.in_proj.weight = self.mamba_fwd.in_proj.weight
        self.mamba_rev.in_proj.bias = self.mamba_fwd.in_proj.bias
        self.mamba_rev.out_proj.weight = self.mamba_fwd.out_proj.weight
        self.mamba_rev.out_proj.bias = self.mamba_fwd.out_proj.bias

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.mamba_fwd(hidden) + self.mamba_rev(hidden.flip(1)).flip(1)


def _copy_weights(ours: BiMambaMixer, theirs: CaduceusBiMamba) -> dict[str, torch.nn.Parameter]:
    """Copy our weights into theirs; returns our-name -> their-parameter for the gradient comparison."""
    pairs = {
        "in_proj.weight": theirs.mamba_fwd.in_proj.weight,
        "out_proj.weight": theirs.mamba_fwd.out_proj.weight,
    }
    for ours_dir, their_mod in (("fwd", theirs.mamba_fwd), ("rev", theirs.mamba_rev)):
        for name in ("conv1d.weight", "conv1d.bias", "x_proj.weight", "dt_proj.weight", "dt_proj.bias", "A_log", "D"):
            pairs[f"{ours_dir}.{name}"] = their_mod.get_parameter(name)
    params = dict(ours.named_parameters())
    assert set(params) == set(pairs), "every parameter of our mixer has a counterpart"
    with torch.no_grad():
        for name, p in pairs.items():
            assert p.shape == params[name].shape, name
            p.copy_(params[name])
    return pairs


SCANS = ["ref", "loop", "chunked", "numba"]


@pytest.mark.parametrize("scan", SCANS)
def test_bimamba_matches_mamba_ssm(mamba_simple, scan: str) -> None:
    if scan == "numba" and not numba_available():
        pytest.skip("numba not installed")
    module, use_cuda = mamba_simple
    torch.manual_seed(0)
    ours = BiMambaMixer(D_MODEL, d_state=D_STATE, d_conv=D_CONV, expand=EXPAND, dt_rank=DT_RANK)
    with torch.no_grad():  # move away from the initialisation so every parameter matters
        for p in ours.parameters():
            p.add_(0.1 * torch.randn_like(p))
    theirs = CaduceusBiMamba(module.Mamba)
    pairs = _copy_weights(ours, theirs)
    device = "cuda" if use_cuda else "cpu"
    ours_dev, theirs_dev = ours.to(device), theirs.to(device)

    hidden = torch.randn(3, 37, D_MODEL, device=device)
    h1 = hidden.clone().requires_grad_()
    h2 = hidden.clone().requires_grad_()
    w = torch.randn(3, 37, D_MODEL, device=device)
    out_ours = ours_dev(h1, scan=scan if device == "cpu" else "auto")
    out_theirs = theirs_dev(h2)
    torch.testing.assert_close(out_ours, out_theirs, rtol=1e-4, atol=1e-5)

    (out_ours * w).sum().backward()
    (out_theirs * w).sum().backward()
    torch.testing.assert_close(h1.grad, h2.grad, rtol=1e-4, atol=1e-5)
    ours_params = dict(ours_dev.named_parameters())
    for name, p in pairs.items():
        torch.testing.assert_close(
            ours_params[name].grad, p.grad, rtol=1e-4, atol=1e-5, msg=lambda m, n=name: f"grad {n}: {m}"
        )
