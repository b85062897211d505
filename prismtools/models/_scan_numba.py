"""Fused CPU selective scan in numba, with a hand-written backward.

The recurrence and its adjoint are those of :mod:`prismtools.models.scan`. Work is split into tasks of
one batch element and a block of ``w`` channels (``prange`` over tasks); inside a task the sequence is
walked position by position with the ``(N, w)`` state held in a small local array, and the innermost
loops run over contiguous channels so that LLVM vectorises them (decay, state update and output
contraction in one pass; nothing of size ``(B, L, Din, N)`` is ever written).

Memory: the forward pass saves only the state at the start of every chunk of ``K`` positions
(``(B, ceil(L / K), N, Din)``, 25 MB at the reference size with ``K = 32``). The backward pass walks
the chunks in reverse; per chunk it recomputes the ``K`` states and decays into task-local buffers
(about 1 MB) and then runs the adjoint recurrence backwards through them.

float32 inputs use a vectorisable ``exp`` (Cody-Waite range reduction and a degree-6 polynomial, max
relative error ~3e-7 over the float32 range; numba's ``math.exp`` is a scalar libm call and was 4x
slower here); float64 inputs use ``math.exp``. Kernels are compiled on first use and cached on disk
(``cache=True``), so a process pays the compile cost once per dtype, and later processes load it.
"""

from __future__ import annotations

import logging
import math
import os
import threading

import numba
import numpy as np
import torch
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic, overload
from torch.autograd.function import once_differentiable

logger = logging.getLogger(__name__)

# Threading layer. With numba's OpenMP layer, its worker threads interfere with torch's own OpenMP pool:
# measured here, the torch ops run after a numba parallel region (the loop scan) became 10-15x slower.
# The workqueue layer has no spinning workers and showed no such effect, so it is the default unless
# the user chose a layer (NUMBA_THREADING_LAYER) or numba already started one in this process.
if "NUMBA_THREADING_LAYER" not in os.environ:
    try:
        numba.threading_layer()  # raises ValueError while no layer is initialised
    except ValueError:
        numba.config.THREADING_LAYER = "workqueue"
# the workqueue layer must not be entered from two Python threads at once
_LOCK = threading.Lock()

#: Positions per checkpoint chunk (states saved at chunk starts; recomputed inside chunks in backward).
CHUNK = 32
#: Widest channel block per task.
MAX_BLOCK = 256


@intrinsic
def _pow2_biased(typingctx, kb):
    """``2.0 ** (kb - 128)`` as float32 for an int32 ``kb`` in ``[2, 255]`` (exponent bits, no rounding)."""
    sig = types.float32(types.int32)

    def codegen(context, builder, signature, args):
        i32 = ir.IntType(32)
        bits = builder.shl(builder.sub(args[0], ir.Constant(i32, 1)), ir.Constant(i32, 23))
        return builder.bitcast(bits, ir.FloatType())

    return sig, codegen


@intrinsic
def _unbias(typingctx, kb):
    """``float32(kb - 128)``, computed on integers (so fast-math cannot re-associate it into the reduction)."""
    sig = types.float32(types.int32)

    def codegen(context, builder, signature, args):
        k = builder.sub(args[0], ir.Constant(ir.IntType(32), 128))
        return builder.sitofp(k, ir.FloatType())

    return sig, codegen


def _exp(v):  # pragma: no cover - replaced by the overload inside jitted code
    return math.exp(v)


@overload(_exp, inline="always")
def _exp_overload(v):
    if isinstance(v, types.Float) and v.bitwidth == 32:

        def exp32(v):
            v = v if v > np.float32(-87.0) else np.float32(-87.0)
            v = v if v < np.float32(88.0) else np.float32(88.0)
            kb = np.int32(v * np.float32(1.4426950408889634) + np.float32(128.5))  # round(v / ln 2) + 128
            k = _unbias(kb)
            r = v - k * np.float32(0.693359375) - k * np.float32(-2.12194440e-4)  # v - k ln 2, |r| <= ln2 / 2
            p = np.float32(1.9875691500e-4)
            p = p * r + np.float32(1.3981999507e-3)
            p = p * r + np.float32(8.3334519073e-3)
            p = p * r + np.float32(4.1665795894e-2)
            p = p * r + np.float32(1.6666665459e-1)
            p = p * r + np.float32(5.0000001201e-1)
            p = p * r * r + r + np.float32(1.0)
            return p * _pow2_biased(kb)

        return exp32

    def exp64(v):
        return math.exp(v)

    return exp64


@njit(cache=True, fastmath=True)
def exp_array(a, out):
    """Elementwise ``exp`` of a 1-D array with the kernels' ``exp`` (for tests)."""
    for i in range(a.size):
        out[i] = _exp(a[i])


@njit(parallel=True, cache=True, fastmath=True)
def _forward_kernel(x, dt, At, B, C, D, y, hsave, chunk, width):
    nb, length, nd = x.shape
    ns = At.shape[0]
    nblk = (nd + width - 1) // width
    save = hsave.shape[1] > 0
    zero = np.zeros(1, x.dtype)[0]  # typed zero of the compute dtype
    for task in prange(nb * nblk):
        b = task // nblk
        d0 = (task % nblk) * width
        w = min(width, nd - d0)
        h = np.zeros((ns, w), x.dtype)
        acc = np.empty(w, x.dtype)
        u = np.empty(w, x.dtype)
        for t in range(length):
            xr = x[b, t, d0 : d0 + w]
            dr = dt[b, t, d0 : d0 + w]
            if save and t % chunk == 0:
                hsave[b, t // chunk, :, d0 : d0 + w] = h
            for j in range(w):
                u[j] = dr[j] * xr[j]
                acc[j] = zero
            for n in range(ns):
                bn = B[b, t, n]
                cn = C[b, t, n]
                hr = h[n]
                ar = At[n, d0 : d0 + w]
                for j in range(w):
                    hv = _exp(dr[j] * ar[j]) * hr[j] + u[j] * bn
                    hr[j] = hv
                    acc[j] += hv * cn
            yr = y[b, t, d0 : d0 + w]
            dd = D[d0 : d0 + w]
            for j in range(w):
                yr[j] = acc[j] + dd[j] * xr[j]


@njit(parallel=True, cache=True, fastmath=True)
def _backward_kernel(x, dt, At, B, C, D, dy, hsave, chunk, width, dx, ddt, dAt_part, dB_part, dC_part):
    nb, length, nd = x.shape
    ns = At.shape[0]
    nblk = (nd + width - 1) // width
    n_chunks = hsave.shape[1]
    zero = np.zeros(1, x.dtype)[0]
    for task in prange(nb * nblk):
        b = task // nblk
        blk = task % nblk
        d0 = blk * width
        w = min(width, nd - d0)
        g = np.zeros((ns, w), x.dtype)  # adjoint carry a_{t+1} g_{t+1}
        hs = np.empty((chunk + 1, ns, w), x.dtype)  # hs[i + 1] = h_{s + i}; hs[0] = state before the chunk
        dec = np.empty((chunk, ns, w), x.dtype)
        u = np.empty(w, x.dtype)
        dxa = np.empty(w, x.dtype)
        dta = np.empty(w, x.dtype)
        dA_loc = np.zeros((ns, w), x.dtype)
        for c in range(n_chunks - 1, -1, -1):
            s = c * chunk
            e = min(s + chunk, length)
            hs[0] = hsave[b, c, :, d0 : d0 + w]
            for t in range(s, e):
                i = t - s
                xr = x[b, t, d0 : d0 + w]
                dr = dt[b, t, d0 : d0 + w]
                for j in range(w):
                    u[j] = dr[j] * xr[j]
                for n in range(ns):
                    bn = B[b, t, n]
                    ar = At[n, d0 : d0 + w]
                    hp = hs[i, n]
                    hc = hs[i + 1, n]
                    dc = dec[i, n]
                    for j in range(w):
                        a = _exp(dr[j] * ar[j])
                        dc[j] = a
                        hc[j] = a * hp[j] + u[j] * bn
            for t in range(e - 1, s - 1, -1):
                i = t - s
                xr = x[b, t, d0 : d0 + w]
                dr = dt[b, t, d0 : d0 + w]
                dyr = dy[b, t, d0 : d0 + w]
                for j in range(w):
                    u[j] = dr[j] * xr[j]
                    dxa[j] = zero
                    dta[j] = zero
                for n in range(ns):
                    bn = B[b, t, n]
                    cn = C[b, t, n]
                    ar = At[n, d0 : d0 + w]
                    hp = hs[i, n]
                    hc = hs[i + 1, n]
                    dc = dec[i, n]
                    gr = g[n]
                    dal = dA_loc[n]
                    dcn = zero
                    dbn = zero
                    for j in range(w):
                        gv = gr[j] + dyr[j] * cn  # adjoint state g_t
                        dcn += dyr[j] * hc[j]
                        sv = gv * dc[j] * hp[j]  # through the decay a_t = exp(dt_t A)
                        dta[j] += sv * ar[j] + gv * bn * xr[j]
                        dal[j] += sv * dr[j]
                        dxa[j] += gv * bn * dr[j]
                        dbn += gv * u[j]
                        gr[j] = dc[j] * gv
                    dB_part[blk, b, t, n] = dbn
                    dC_part[blk, b, t, n] = dcn
                dxr = dx[b, t, d0 : d0 + w]
                ddtr = ddt[b, t, d0 : d0 + w]
                dd = D[d0 : d0 + w]
                for j in range(w):
                    dxr[j] = dxa[j] + dd[j] * dyr[j]
                    ddtr[j] = dta[j]
        dAt_part[b, :, d0 : d0 + w] = dA_loc


def _width(batch: int, d_inner: int, threads: int) -> int:
    """Channels per task: as wide as possible (vector-friendly) while giving every thread >= 2 tasks."""
    width = min(d_inner, MAX_BLOCK)
    while width > 16 and batch * -(-d_inner // width) < 2 * threads:
        width //= 2
    return max(1, width)


def _threads() -> int:
    n = max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS))
    numba.set_num_threads(n)
    return n


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().contiguous().numpy()


class SelectiveScanNumbaFn(torch.autograd.Function):
    """Autograd wrapper of the numba kernels (float32 or float64 compute, inputs already checked)."""

    @staticmethod
    def forward(ctx, x, dt, A, B, C, D, save: bool):  # noqa: D102
        ctx.in_dtypes = tuple(t.dtype for t in (x, dt, A, B, C, D))
        out_dtype = x.dtype
        cdt = torch.float64 if any(t.dtype == torch.float64 for t in (x, dt, A, B, C, D)) else torch.float32
        x, dt, A, B, C, D = (t.detach().to(cdt).contiguous() for t in (x, dt, A, B, C, D))
        batch, length, d_inner = x.shape
        n_state = A.shape[1]
        At = A.t().contiguous()
        width = _width(batch, d_inner, _threads())
        y = torch.empty_like(x)
        n_chunks = -(-length // CHUNK) if save else 0
        hsave = x.new_empty(batch, n_chunks, n_state, d_inner)
        with _LOCK:
            _forward_kernel(_np(x), _np(dt), _np(At), _np(B), _np(C), _np(D), y.numpy(), hsave.numpy(), CHUNK, width)
        if save:
            ctx.save_for_backward(x, dt, At, B, C, D, hsave)
        return y.to(out_dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, dy):  # noqa: D102
        x, dt, At, B, C, D, hsave = ctx.saved_tensors
        dy = dy.to(x.dtype).contiguous()
        batch, length, d_inner = x.shape
        n_state = At.shape[0]
        width = _width(batch, d_inner, _threads())
        n_blk = -(-d_inner // width)
        dx, ddt = torch.empty_like(x), torch.empty_like(dt)
        dAt_part = x.new_empty(batch, n_state, d_inner)
        dB_part = x.new_empty(n_blk, batch, length, n_state)
        dC_part = x.new_empty(n_blk, batch, length, n_state)
        with _LOCK:
            _backward_kernel(
                _np(x), _np(dt), _np(At), _np(B), _np(C), _np(D), dy.numpy(), hsave.numpy(), CHUNK, width,
                dx.numpy(), ddt.numpy(), dAt_part.numpy(), dB_part.numpy(), dC_part.numpy(),
            )  # fmt: skip
        dA = dAt_part.sum(0).t()
        dB, dC = dB_part.sum(0), dC_part.sum(0)
        dD = (dy * x).sum((0, 1))
        grads = (dx, ddt, dA, dB, dC, dD)
        return (*(g.to(dtype) for g, dtype in zip(grads, ctx.in_dtypes)), None)


def selective_scan_numba_fn(x, dt, A, B, C, D) -> torch.Tensor:
    """Run the fused kernel (``D`` given; shapes checked by the caller); saves checkpoints only if needed."""
    save = torch.is_grad_enabled() and any(t.requires_grad for t in (x, dt, A, B, C, D))
    with torch.autocast(device_type="cpu", enabled=False):
        return SelectiveScanNumbaFn.apply(x, dt, A, B, C, D, save)
