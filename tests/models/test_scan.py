"""Selective scans against the sequential reference (float64, forward and all gradients)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from prismtools.models import (
    selective_scan,
    selective_scan_chunked,
    selective_scan_loop,
    selective_scan_numba,
    selective_scan_ref,
)
from prismtools.models.scan import default_scan_impl, mamba_ssm_available, numba_available

needs_numba = pytest.mark.skipif(not numba_available(), reason="numba not installed")

RTOL, ATOL = 1e-9, 1e-10


def _inputs(batch: int, length: int, d_inner: int, n_state: int, seed: int, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, length, d_inner, generator=g, dtype=dtype)
    dt = F.softplus(torch.randn(batch, length, d_inner, generator=g, dtype=dtype) - 1.0)
    A = -torch.exp(torch.randn(d_inner, n_state, generator=g, dtype=dtype))
    B = torch.randn(batch, length, n_state, generator=g, dtype=dtype)
    C = torch.randn(batch, length, n_state, generator=g, dtype=dtype)
    D = torch.randn(d_inner, generator=g, dtype=dtype)
    w = torch.randn(batch, length, d_inner, generator=g, dtype=dtype)
    return [t.requires_grad_() for t in (x, dt, A, B, C, D)], w


def _value_and_grads(fn, inputs, w):
    y = fn(*inputs)
    grads = torch.autograd.grad((y * w).sum(), inputs)
    return y.detach(), grads


IMPLS = {
    "loop": selective_scan_loop,
    "loop_block5": lambda *a: selective_scan_loop(*a, block=5),
    "chunked": selective_scan_chunked,
    "chunked_k8_x3": lambda *a: selective_scan_chunked(*a, chunk_size=8, chunks_per_block=3),
    "chunked_k7_x1": lambda *a: selective_scan_chunked(*a, chunk_size=7, chunks_per_block=1),
    "dispatch": selective_scan,
    "numba": selective_scan_numba,
    "dispatch_numba": lambda *a: selective_scan(*a, impl="numba"),
}


@pytest.mark.parametrize("length", [1, 7, 33, 100, 257])
@pytest.mark.parametrize("impl", sorted(IMPLS))
def test_scan_matches_reference(impl: str, length: int) -> None:
    if "numba" in impl and not numba_available():
        pytest.skip("numba not installed")
    inputs, w = _inputs(2, length, 6, 4, seed=length)
    y_ref, g_ref = _value_and_grads(selective_scan_ref, inputs, w)
    y, g = _value_and_grads(IMPLS[impl], inputs, w)
    torch.testing.assert_close(y, y_ref, rtol=RTOL, atol=ATOL)
    for name, a, b in zip(["x", "dt", "A", "B", "C", "D"], g, g_ref):
        torch.testing.assert_close(a, b, rtol=RTOL, atol=ATOL, msg=lambda m, n=name: f"grad {n}: {m}")


def test_scan_large_steps_stay_finite() -> None:
    """Very large dt * |A| (decays underflow to 0) must not overflow in the chunked scan."""
    inputs, w = _inputs(1, 40, 3, 2, seed=0)
    with torch.no_grad():
        inputs[1].mul_(1e3)
    y_ref, g_ref = _value_and_grads(selective_scan_ref, inputs, w)
    for fn in (selective_scan_chunked, selective_scan_loop, selective_scan_numba):
        y, g = _value_and_grads(fn, inputs, w)
        assert torch.isfinite(y).all()
        torch.testing.assert_close(y, y_ref, rtol=RTOL, atol=ATOL)
        for a, b in zip(g, g_ref):
            torch.testing.assert_close(a, b, rtol=RTOL, atol=ATOL)


def test_scan_float32_and_no_D() -> None:
    inputs, w = _inputs(2, 50, 4, 3, seed=3, dtype=torch.float32)
    y_ref = selective_scan_ref(*inputs[:5])
    for fn in (selective_scan_chunked, selective_scan_loop, selective_scan_numba):
        y = fn(*inputs[:5])
        assert y.dtype == torch.float32
        torch.testing.assert_close(y, y_ref, rtol=1e-4, atol=1e-5)


def test_dispatcher() -> None:
    assert default_scan_impl("cpu") == ("numba" if numba_available() else "loop")
    assert default_scan_impl("cuda") == ("mamba_ssm" if mamba_ssm_available() else "chunked")
    inputs, _ = _inputs(1, 3, 2, 2, seed=1)
    with pytest.raises(ValueError, match="unknown scan impl"):
        selective_scan(*inputs, impl="nope")
    with pytest.raises((ValueError, ImportError), match="mamba_ssm"):
        selective_scan(*inputs, impl="mamba_ssm")  # CPU tensors (or no mamba-ssm): a clear error
    with pytest.raises(ValueError):
        selective_scan_loop(inputs[0], inputs[1], inputs[2][:1], inputs[3], inputs[4], inputs[5])


@pytest.mark.parametrize("impl", ["ref", "naive", "loop", "chunked", "numba"])
def test_scan_gate_bias_softplus(impl: str) -> None:
    """The optional ``z`` / ``delta_bias`` / ``delta_softplus`` arguments mean what mamba_ssm's do."""
    if impl == "numba" and not numba_available():
        pytest.skip("numba not installed")
    (x, dt, A, B, C, D), w = _inputs(2, 19, 5, 3, seed=7)
    g = torch.Generator().manual_seed(8)
    z = torch.randn(x.shape, generator=g, dtype=x.dtype, requires_grad=True)
    bias = torch.randn(x.shape[-1], generator=g, dtype=x.dtype, requires_grad=True)
    inputs = [x, dt, A, B, C, D, z, bias]

    def fused(x, dt, A, B, C, D, z, bias):
        return selective_scan(x, dt, A, B, C, D, z=z, delta_bias=bias, delta_softplus=True, impl=impl)

    def explicit(x, dt, A, B, C, D, z, bias):
        return selective_scan_ref(x, F.softplus(dt + bias), A, B, C, D) * F.silu(z)

    y_ref, g_ref = _value_and_grads(explicit, inputs, w)
    y, g = _value_and_grads(fused, inputs, w)
    torch.testing.assert_close(y, y_ref, rtol=RTOL, atol=ATOL)
    for a, b in zip(g, g_ref):
        torch.testing.assert_close(a, b, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("impl", ["ref", "loop", "chunked", "numba"])
def test_scan_bf16_autocast_keeps_float32_state(impl: str) -> None:
    """Under bf16 autocast the inputs arrive in bf16; the state must still be float32.

    Compared with a float64 scan of the same (bf16-rounded) inputs, only the final rounding of the
    output to bf16 may differ (relative 2**-8). A bf16 state would accumulate rounding over the 300
    steps (measured: errors of several percent), which this tolerance rejects.
    """
    if impl == "numba" and not numba_available():
        pytest.skip("numba not installed")
    (x, dt, A, B, C, D), _ = _inputs(2, 300, 8, 4, seed=11, dtype=torch.float32)
    with torch.no_grad():
        dt.mul_(0.05)  # long memory, so rounding in the state would accumulate
    x16, dt16, B16, C16 = (t.detach().bfloat16().requires_grad_() for t in (x, dt, B, C))
    A32, D32 = A.detach().requires_grad_(), D.detach().requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = selective_scan(x16, dt16, A32, B16, C16, D32, impl=impl)
    assert y.dtype == torch.bfloat16
    y.float().sum().backward()
    assert x16.grad.dtype == torch.bfloat16 and A32.grad.dtype == torch.float32
    y64 = selective_scan_ref(*(t.detach().double() for t in (x16, dt16, A32, B16, C16, D32)))
    scale = y64.abs().max()
    torch.testing.assert_close(y.double(), y64, rtol=2**-7, atol=2**-7 * float(scale))


def test_ref_state_in_bf16_would_fail_the_bf16_check() -> None:
    """The bf16 test above can fail: a recurrence kept in bf16 misses its tolerance."""
    (x, dt, A, B, C, D), _ = _inputs(2, 300, 8, 4, seed=11, dtype=torch.float32)
    dt = dt.detach() * 0.05
    xs = [t.detach().bfloat16() for t in (x, dt, A, B, C, D)]
    h = xs[0].new_zeros(2, 8, 4)
    ys = []
    for t in range(300):
        h = torch.exp(xs[1][:, t, :, None] * xs[2]) * h + (xs[1][:, t] * xs[0][:, t])[:, :, None] * xs[3][:, t, None, :]
        ys.append((h * xs[4][:, t, None, :]).sum(-1))
    y_bf16_state = torch.stack(ys, 1) + xs[0] * xs[5]
    y64 = selective_scan_ref(*(t.double() for t in xs))
    scale = float(y64.abs().max())
    with pytest.raises(AssertionError):
        torch.testing.assert_close(y_bf16_state.double(), y64, rtol=2**-7, atol=2**-7 * scale)


@needs_numba
def test_numba_exp_accuracy() -> None:
    """The kernels' float32 exp (vectorisable polynomial) against float64 exp over the useful range."""
    import numpy as np

    from prismtools.models._scan_numba import exp_array

    a = np.linspace(-87.0, 88.0, 400_001, dtype=np.float32)
    out = np.empty_like(a)
    exp_array(a, out)
    ref = np.exp(a.astype(np.float64))
    assert np.max(np.abs(out - ref) / ref) < 5e-7
    low = np.array([-1e4, -200.0, -np.inf], dtype=np.float32)
    out = np.empty_like(low)
    exp_array(low, out)
    assert np.all((out >= 0) & (out < 1e-37))


@needs_numba
def test_numba_no_grad_saves_nothing_and_matches() -> None:
    inputs, _ = _inputs(3, 65, 40, 5, seed=5, dtype=torch.float32)
    with torch.no_grad():
        y = selective_scan_numba(*inputs)
    torch.testing.assert_close(y, selective_scan_ref(*inputs).detach(), rtol=1e-4, atol=1e-4)
    assert y.grad_fn is None
