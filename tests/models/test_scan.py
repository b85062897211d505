"""Selective scans against the sequential reference (float64, forward and all gradients)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from prismtools.models import selective_scan, selective_scan_chunked, selective_scan_loop, selective_scan_ref
from prismtools.models.scan import default_scan_impl

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
}


@pytest.mark.parametrize("length", [1, 7, 33, 100, 257])
@pytest.mark.parametrize("impl", sorted(IMPLS))
def test_scan_matches_reference(impl: str, length: int) -> None:
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
    for fn in (selective_scan_chunked, selective_scan_loop):
        y, g = _value_and_grads(fn, inputs, w)
        assert torch.isfinite(y).all()
        torch.testing.assert_close(y, y_ref, rtol=RTOL, atol=ATOL)
        for a, b in zip(g, g_ref):
            torch.testing.assert_close(a, b, rtol=RTOL, atol=ATOL)


def test_scan_float32_and_no_D() -> None:
    inputs, w = _inputs(2, 50, 4, 3, seed=3, dtype=torch.float32)
    y_ref = selective_scan_ref(*inputs[:5])
    for fn in (selective_scan_chunked, selective_scan_loop):
        y = fn(*inputs[:5])
        assert y.dtype == torch.float32
        torch.testing.assert_close(y, y_ref, rtol=1e-4, atol=1e-5)


def test_dispatcher() -> None:
    assert default_scan_impl("cpu") == "loop"
    assert default_scan_impl("cuda") == "chunked"
    inputs, _ = _inputs(1, 3, 2, 2, seed=1)
    with pytest.raises(ValueError):
        selective_scan(*inputs, impl="nope")
    with pytest.raises(ValueError):
        selective_scan_loop(inputs[0], inputs[1], inputs[2][:1], inputs[3], inputs[4], inputs[5])
