"""Selective scan (the S6 recurrence of Mamba) in plain torch.

The recurrence, per batch element ``b``, channel ``d`` and state index ``n``::

    h_t = exp(dt_t * A) * h_{t-1} + dt_t * B_t * x_t        (h_{-1} = 0)
    y_t = <C_t, h_t> + D * x_t

with ``x, dt`` of shape ``(B, L, Din)`` (``dt`` already passed through softplus), ``A`` of shape
``(Din, N)`` (negative), ``B, C`` of shape ``(B, L, N)`` and ``D`` of shape ``(Din,)``.

Four implementations are provided here, plus ``mamba_ssm``'s fused CUDA kernel when installed:

``selective_scan_ref``
    A naive per-position Python loop differentiated by autograd. Slow; the test oracle only.
``selective_scan_loop``
    A per-step loop over precomputed decay/input tensors with a hand-written backward. The sequence is
    cut into blocks; only the state at each block start is kept for the backward pass, which recomputes
    the block's states and runs the adjoint recurrence backwards. Each step is a single fused
    ``addcmul_`` on a ``(B, Din, N)`` slab, which is what a CPU does well (memory traffic bound).
``selective_scan_chunked``
    A two-level parallel scan with the same hand-written backward: blocks of ``chunks_per_block`` chunks
    of ``chunk_size`` positions are processed at once; inside a chunk the states come from a
    Hillis-Steele scan whose decay factors are ``exp(S_t - S_s)`` with ``S`` the in-chunk cumulative sum
    of log-decays ``dt * A`` (segment-sum differences, so every exponent is ``<= 0``); chunk boundaries
    are then linked by a short loop over the chunk-final states. Few, large kernels: the GPU path
    when mamba-ssm is absent.
``selective_scan_numba``
    A fused CPU kernel in numba (:mod:`prismtools.models._scan_numba`): one pass per position with the
    state in a small local array, states saved only at chunk starts, hand-written backward.
``"mamba_ssm"``
    ``mamba_ssm.selective_scan_fn`` (CUDA only; :mod:`prismtools.models._scan_mamba_ssm`).

``selective_scan(..., impl="auto")`` dispatches (:func:`default_scan_impl`): on CUDA, mamba-ssm's kernel
when importable, else the chunked scan; on CPU, the numba kernel (measured 3-5x faster than the loop
forward + backward at the reference size, at lower memory; ``benchmarks/bench_scan.py``), else the loop.
The full ``(B, L, Din, N)`` state is never materialised by the loop, chunked or numba scans.

Computation always happens in at least float32 (float64 inputs stay float64), with autocast disabled
inside the scan, so bfloat16/float16 inputs under autocast keep a float32 state; the output has the
dtype of ``x``.
"""

from __future__ import annotations

from typing import Literal

import importlib.util

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

__all__ = [
    "selective_scan",
    "selective_scan_ref",
    "selective_scan_loop",
    "selective_scan_chunked",
    "selective_scan_numba",
    "default_scan_impl",
    "SCAN_IMPLS",
]

ScanImpl = Literal["auto", "loop", "chunked", "numba", "mamba_ssm", "ref", "naive"]
#: Accepted values of ``impl`` / ``scan=`` (``"naive"`` is an alias of ``"ref"``).
SCAN_IMPLS = ("auto", "loop", "chunked", "numba", "mamba_ssm", "ref", "naive")

#: Default number of positions per block of the loop scan (states of one block are held at a time).
LOOP_BLOCK = 32
#: Default chunk size (positions) of the chunked scan.
CHUNK_SIZE = 32
#: Default upper bound on the elements of one block of states in the chunked scan (~256 MB in float32).
CHUNK_BLOCK_ELEMS = 1 << 26


# ----------------------------------------------------------------------------------------------------
# Reference
# ----------------------------------------------------------------------------------------------------
def selective_scan_ref(
    x: torch.Tensor,
    dt: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
) -> torch.Tensor:
    """Naive sequential selective scan (test oracle; differentiable by autograd, slow).

    Computes in float32 at least (the state is never kept in a half-precision dtype).

    Parameters
    ----------
    x, dt
        ``(batch, L, Din)`` inputs and (positive) step sizes.
    A
        ``(Din, N)`` state matrix (negative entries for a stable recurrence).
    B, C
        ``(batch, L, N)`` input and output projections.
    D
        ``(Din,)`` skip connection, or ``None``.

    Returns
    -------
    torch.Tensor
        ``(batch, L, Din)`` outputs ``y``.
    """
    out_dtype = x.dtype
    cdt = _compute_dtype(x, dt, A, B, C, *(() if D is None else (D,)))
    x, dt, A, B, C = (t.to(cdt) for t in (x, dt, A, B, C))
    batch, length, d_inner = x.shape
    with torch.autocast(device_type=x.device.type, enabled=False):
        h = x.new_zeros(batch, d_inner, A.shape[1])
        ys = []
        for t in range(length):
            decay = torch.exp(dt[:, t, :, None] * A)
            h = decay * h + (dt[:, t] * x[:, t])[:, :, None] * B[:, t, None, :]
            ys.append((h * C[:, t, None, :]).sum(-1))
        y = torch.stack(ys, dim=1) if ys else x.new_zeros(x.shape)
        if D is not None:
            y = y + x * D.to(cdt)
    return y.to(out_dtype)


# ----------------------------------------------------------------------------------------------------
# State engines. Time-first tensors of shape (T, b, Din, N): log-decays ``ld`` (or the decays
# ``decay = exp(ld)``), inputs ``u`` and an initial state ``h0`` (b, Din, N). They return all states:
#
#   forward (reverse=False):  h_t = a_t * h_{t-1} + u_t,       h_{-1} = h0
#   reverse (reverse=True):   g_t = a_{t+1} * g_{t+1} + u_t,   g_{T-1} = u_{T-1} + h0
#
# (in the reverse form ``h0`` is the already-decayed carry from the following block). ``u`` may be
# overwritten; ``ld`` and ``decay`` are not.
# ----------------------------------------------------------------------------------------------------
def _states_loop(ld, decay, u, h0, reverse: bool, chunk_size: int) -> torch.Tensor:
    """Sequential engine: one in-place ``addcmul_`` per step (needs ``decay``)."""
    h = u
    n = h.shape[0]
    if not reverse:
        h[0].addcmul_(decay[0], h0)
        for t in range(1, n):
            h[t].addcmul_(decay[t], h[t - 1])
    else:
        h[n - 1].add_(h0)
        for t in range(n - 2, -1, -1):
            h[t].addcmul_(decay[t + 1], h[t + 1])
    return h


def _hillis_steele(ld: torch.Tensor, u: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """Chunk-parallel forward recurrence on ``(n_chunks, K, ...)`` tensors.

    Inside each chunk the cumulative log-decay ``S`` gives every partial decay product as
    ``exp(S_t - S_s)`` with ``t >= s`` (exponent ``<= 0``). After the Hillis-Steele doubling steps,
    ``h_t = sum_{s <= t} exp(S_t - S_s) u_s`` within the chunk; chunks are then linked by a loop over
    their final states and the incoming state is added as ``exp(S_t) * h_in``.
    """
    n_chunks, k = ld.shape[:2]
    s_cum = torch.cumsum(ld, dim=1)
    h = u
    step = 1
    while step < k:
        # h_t <- h_t + (prod_{t-step < j <= t} a_j) * h_{t-step}, using the old h on the right
        shifted = torch.exp(s_cum[:, step:] - s_cum[:, :-step]).mul_(h[:, :-step])
        h = torch.cat([h[:, :step], shifted.add_(h[:, step:])], dim=1)
        step *= 2
    total = torch.exp(s_cum[:, -1])  # decay across each whole chunk
    carries = []
    carry = h0
    for c in range(n_chunks):
        carries.append(carry)
        carry = torch.addcmul(h[c, -1], total[c], carry)
    h_in = torch.stack(carries, dim=0).unsqueeze(1)
    return h.addcmul_(s_cum.exp_(), h_in)


def _states_chunked(ld, decay, u, h0, reverse: bool, chunk_size: int) -> torch.Tensor:
    """Chunk-parallel engine (see :func:`_hillis_steele`, needs ``ld``); any length (tail padded)."""
    if reverse:
        # g_t = a_{t+1} g_{t+1} + u_t with g_{T-1} = u_{T-1} + h0 is a forward recurrence in reversed time
        # with log-decays [0, ld_{T-1}, ..., ld_1] and initial state h0.
        ld = torch.cat([torch.zeros_like(ld[:1]), ld[1:].flip(0)], dim=0)
        u = u.flip(0)
    t_len = ld.shape[0]
    k = max(1, min(chunk_size, t_len))
    pad = (-t_len) % k
    if pad:
        ld = torch.cat([ld, ld.new_zeros((pad,) + ld.shape[1:])], dim=0)
        u = torch.cat([u, u.new_zeros((pad,) + u.shape[1:])], dim=0)
    shape = ld.shape
    h = _hillis_steele(ld.reshape((-1, k) + shape[1:]), u.reshape((-1, k) + shape[1:]), h0)
    h = h.reshape(shape)[:t_len]
    return h.flip(0) if reverse else h


_ENGINES = {"loop": _states_loop, "chunked": _states_chunked}


# ----------------------------------------------------------------------------------------------------
# Autograd function with hand-written backward
# ----------------------------------------------------------------------------------------------------
def _compute_dtype(*tensors: torch.Tensor) -> torch.dtype:
    return torch.float64 if any(t.dtype == torch.float64 for t in tensors) else torch.float32


class _Workspace:
    """Per-call scratch buffers of one block of states, reused across blocks.

    Used by the loop engine: on CPU, allocating and freeing block-sized tensors for every block costs
    page faults on fresh memory, and reusing a few buffers avoids that. The chunked engine (large, few
    blocks; the GPU path with its caching allocator) allocates per block.
    """

    def __init__(self, reuse: bool, shape: tuple[int, ...], like: torch.Tensor) -> None:
        self.reuse, self.shape, self.like, self.bufs = reuse, shape, like, {}

    def get(self, name: str, n: int) -> torch.Tensor | None:
        if not self.reuse:
            return None
        if name not in self.bufs:
            self.bufs[name] = self.like.new_empty(self.shape)
        return self.bufs[name][:n]


def _mul(a: torch.Tensor, b: torch.Tensor, out: torch.Tensor | None) -> torch.Tensor:
    return torch.mul(a, b) if out is None else torch.mul(a, b, out=out)


def _block_tensors(x, dt, A, B, s: int, e: int, ws: _Workspace, ld_name: str = "ld", u_name: str = "u"):
    """Time-first tensors of positions ``s:e``: log-decays, inputs and the slices reused by backward."""
    dt_b = dt[:, s:e].transpose(0, 1)  # (T, b, Din)
    x_b = x[:, s:e].transpose(0, 1)
    b_b = B[:, s:e].transpose(0, 1)  # (T, b, N)
    n = e - s
    ld = _mul(dt_b.unsqueeze(-1), A, ws.get(ld_name, n))  # (T, b, Din, N), <= 0 for negative A
    dtx = dt_b * x_b
    u = _mul(dtx.unsqueeze(-1), b_b.unsqueeze(-2), ws.get(u_name, n))
    return ld, u, dt_b, x_b, b_b, dtx


class _SelectiveScanFn(torch.autograd.Function):
    """Blocked selective scan; saves only block-initial states and recomputes the rest in backward.

    Backward, per block in reverse order, with ``a_t = exp(dt_t A)`` and ``u_t = dt_t x_t B_t``:
    adjoint states ``g_t = dy_t C_t + a_{t+1} g_{t+1}`` (same engine, reversed), then
    ``dC_t = sum_d dy_t h_t``, ``s_t = g_t a_t h_{t-1}`` gives ``ddt += sum_n s_t A`` and
    ``dA += sum s_t dt_t``; ``dB_t = sum_d g_t dt_t x_t``, ``ddt += (g_t B_t) x_t``,
    ``dx = (g_t B_t) dt_t + D dy_t``, ``dD = sum dy x``.
    """

    @staticmethod
    def forward(ctx, x, dt, A, B, C, D, engine: str, block: int, chunk_size: int):  # noqa: D102
        ctx.in_dtypes = tuple(t.dtype for t in (x, dt, A, B, C, D))
        out_dtype = x.dtype
        cdt = _compute_dtype(x, dt, A, B, C, D)
        run = _ENGINES[engine]
        with torch.autocast(device_type=x.device.type, enabled=False):
            x, dt, A, B, C, D = (t.to(cdt) for t in (x, dt, A, B, C, D))
            batch, length, d_inner = x.shape
            n_state = A.shape[1]
            ws = _Workspace(engine == "loop", (min(block, length), batch, d_inner, n_state), x)
            h = x.new_zeros(batch, d_inner, n_state)
            y = torch.empty_like(x)
            h_starts = []
            for s in range(0, length, block):
                e = min(s + block, length)
                ld, u, *_ = _block_tensors(x, dt, A, B, s, e, ws)
                h_starts.append(h)
                if engine == "loop":
                    states = run(None, ld.exp_(), u, h, False, chunk_size)
                else:
                    states = run(ld, None, u, h, False, chunk_size)
                del ld, u
                c_b = C[:, s:e].transpose(0, 1).unsqueeze(-1)  # (T, b, N, 1)
                y[:, s:e] = torch.matmul(states, c_b).squeeze(-1).transpose(0, 1)
                h = states[-1].clone()
                del states
            y.addcmul_(x, D)
            h_saved = torch.stack(h_starts, 0)
        ctx.save_for_backward(x, dt, A, B, C, D, h_saved)
        ctx.cfg = (engine, block, chunk_size)
        return y.to(out_dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, dy):  # noqa: D102
        x, dt, A, B, C, D, h_saved = ctx.saved_tensors
        engine, block, chunk_size = ctx.cfg
        run = _ENGINES[engine]
        with torch.autocast(device_type=x.device.type, enabled=False):
            dy = dy.to(x.dtype)
            batch, length, d_inner = x.shape
            ws = _Workspace(engine == "loop", (min(block, length), batch, d_inner, A.shape[1]), x)
            dx = torch.empty_like(x)
            ddt = torch.empty_like(dt)
            dB = torch.empty_like(B)
            dC = torch.empty_like(C)
            dA = torch.zeros_like(A)
            dD = (dy * x).sum((0, 1))
            carry = torch.zeros_like(h_saved[0])
            starts = list(range(0, length, block))
            for i in range(len(starts) - 1, -1, -1):
                s = starts[i]
                e = min(s + block, length)
                n = e - s
                h_in = h_saved[i]
                ld, u, dt_b, x_b, b_b, dtx = _block_tensors(x, dt, A, B, s, e, ws)
                decay = ld.exp() if engine != "loop" else torch.exp(ld, out=ws.get("decay", n))
                states = run(ld, decay, u, h_in, False, chunk_size)  # recompute h_t (overwrites u)
                dy_b = dy[:, s:e].transpose(0, 1)  # (T, b, Din)
                c_b = C[:, s:e].transpose(0, 1)  # (T, b, N)
                dC[:, s:e] = torch.matmul(dy_b.unsqueeze(-2), states).squeeze(-2).transpose(0, 1)
                src = _mul(dy_b.unsqueeze(-1), c_b.unsqueeze(-2), ws.get("g", n))
                g = run(ld, decay, src, carry, True, chunk_size)  # adjoint states (overwrites src)
                del ld
                # through the decays: s_t = g_t * a_t * h_{t-1}
                sgrad = _mul(g, decay, ws.get("ld", n))  # the log-decay buffer is free now
                sgrad[0].mul_(h_in)
                if n > 1:
                    sgrad[1:].mul_(states[:-1])
                del states
                tmp = ws.get("u", n)  # the states buffer is free now
                ddt_b = _mul(sgrad, A, tmp).sum(-1)
                dA += _mul(sgrad, dt_b.unsqueeze(-1), tmp).sum((0, 1))
                del sgrad, tmp
                # through the inputs u_t = (dt_t x_t) B_t
                dB[:, s:e] = torch.matmul(dtx.unsqueeze(-2), g).squeeze(-2).transpose(0, 1)
                g_dtx = torch.matmul(g, b_b.unsqueeze(-1)).squeeze(-1)  # (T, b, Din)
                ddt_b.addcmul_(g_dtx, x_b)
                ddt[:, s:e] = ddt_b.transpose(0, 1)
                dx[:, s:e] = (g_dtx * dt_b).transpose(0, 1)
                carry = decay[0] * g[0]
                del g, decay
            dx.addcmul_(dy, D)
        grads = (dx, ddt, dA, dB, dC, dD)
        grads = tuple(g.to(dtype) for g, dtype in zip(grads, ctx.in_dtypes))
        return (*grads, None, None, None)


def _check(x, dt, A, B, C, D) -> None:
    if x.dim() != 3 or dt.shape != x.shape:
        raise ValueError(f"x and dt must both be (batch, L, Din); got {tuple(x.shape)} and {tuple(dt.shape)}")
    batch, length, d_inner = x.shape
    if A.dim() != 2 or A.shape[0] != d_inner:
        raise ValueError(f"A must be (Din, N) with Din={d_inner}; got {tuple(A.shape)}")
    n_state = A.shape[1]
    for name, t in (("B", B), ("C", C)):
        if t.shape != (batch, length, n_state):
            raise ValueError(f"{name} must be {(batch, length, n_state)}; got {tuple(t.shape)}")
    if D is not None and D.shape != (d_inner,):
        raise ValueError(f"D must be ({d_inner},); got {tuple(D.shape)}")


def _run(x, dt, A, B, C, D, engine: str, block: int, chunk_size: int) -> torch.Tensor:
    _check(x, dt, A, B, C, D)
    if D is None:
        D = x.new_zeros(x.shape[-1])
    if x.shape[1] == 0:
        return x * D
    return _SelectiveScanFn.apply(x, dt, A, B, C, D, engine, block, chunk_size)


def selective_scan_loop(
    x: torch.Tensor,
    dt: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    *,
    block: int = LOOP_BLOCK,
) -> torch.Tensor:
    """Selective scan by a per-step loop over precomputed tensors, with a hand-written backward.

    Memory: one block of ``block`` states ``(block, batch, Din, N)`` at a time, plus the state at each
    block start (``ceil(L / block)`` states) kept for the backward pass.

    Parameters
    ----------
    x, dt, A, B, C, D
        As in :func:`selective_scan_ref`.
    block
        Positions per block.

    Returns
    -------
    torch.Tensor
        ``(batch, L, Din)``.
    """
    return _run(x, dt, A, B, C, D, "loop", max(1, int(block)), 1)


def selective_scan_chunked(
    x: torch.Tensor,
    dt: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    *,
    chunk_size: int = CHUNK_SIZE,
    chunks_per_block: int | None = None,
) -> torch.Tensor:
    """Chunked parallel selective scan (the GPU path), with a hand-written backward.

    The sequence is processed in blocks of ``chunks_per_block * chunk_size`` positions (by default as
    many chunks as keep one block of states under ``2**26`` elements). Inside a block, every chunk is
    scanned in parallel with a Hillis-Steele scan whose decay factors ``exp(S_t - S_s)`` are differences
    of the in-chunk cumulative log-decays (exponents ``<= 0``, no overflow for any ``dt``); chunks are
    then linked by a loop over their ``(batch, Din, N)`` final states. ``L`` need not be a multiple of
    ``chunk_size`` (the tail is padded with zero steps, which leave the state unchanged).

    Parameters
    ----------
    x, dt, A, B, C, D
        As in :func:`selective_scan_ref`.
    chunk_size
        Positions per chunk.
    chunks_per_block
        Chunks processed together; ``None`` picks it from the memory budget.

    Returns
    -------
    torch.Tensor
        ``(batch, L, Din)``.
    """
    chunk_size = max(1, int(chunk_size))
    if chunks_per_block is None:
        per_pos = x.shape[0] * x.shape[2] * A.shape[1]
        chunks_per_block = max(1, CHUNK_BLOCK_ELEMS // max(1, per_pos * chunk_size))
    return _run(x, dt, A, B, C, D, "chunked", chunk_size * max(1, int(chunks_per_block)), chunk_size)


def selective_scan_numba(
    x: torch.Tensor,
    dt: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
) -> torch.Tensor:
    """Fused CPU selective scan in numba, with a hand-written backward.

    Per batch element and block of channels, one pass over the positions with the ``(N, channels)``
    state in a local array; the forward pass saves the state every 32 positions, the backward pass
    recomputes each chunk's states and runs the adjoint recurrence through them. Memory:
    ``(batch, ceil(L / 32), N, Din)`` checkpoints plus about 1 MB per thread. Threads: torch's
    intra-op thread count (:func:`torch.get_num_threads`). Kernels are compiled on first use and
    cached on disk. CPU tensors only.

    Parameters
    ----------
    x, dt, A, B, C, D
        As in :func:`selective_scan_ref`.

    Returns
    -------
    torch.Tensor
        ``(batch, L, Din)``.
    """
    _check(x, dt, A, B, C, D)
    if x.device.type != "cpu":
        raise ValueError(f"scan='numba' runs on CPU tensors only; got tensors on {x.device}. Use scan='auto'.")
    if not numba_available():
        raise ImportError("scan='numba' needs numba (installed with scanpy): pip install numba")
    if D is None:
        D = x.new_zeros(x.shape[-1])
    if x.shape[1] == 0:
        return x * D
    from ._scan_numba import selective_scan_numba_fn

    return selective_scan_numba_fn(x, dt, A, B, C, D)


def numba_available() -> bool:
    """Whether numba can be imported (the CPU fused kernel)."""
    return importlib.util.find_spec("numba") is not None


def mamba_ssm_available() -> bool:
    """Whether mamba-ssm's CUDA selective scan is usable here (package, CUDA extension and a GPU)."""
    if importlib.util.find_spec("mamba_ssm") is None:
        return False
    from ._scan_mamba_ssm import available

    return available()


def default_scan_impl(device: torch.device | str) -> str:
    """Scan implementation picked by ``impl="auto"`` for ``device``.

    CUDA: ``"mamba_ssm"`` (its fused kernel) when mamba-ssm is installed with its CUDA extension, else
    ``"chunked"`` (a 2,000-step loop would mean thousands of small kernel launches per scan). CPU:
    ``"numba"`` when numba is importable (3-5x faster than the loop forward + backward at the reference
    size, at lower memory; ``benchmarks/README.md`` section 2), else ``"loop"``.
    """
    if torch.device(device).type == "cuda":
        return "mamba_ssm" if mamba_ssm_available() else "chunked"
    return "numba" if numba_available() else "loop"


def selective_scan(
    x: torch.Tensor,
    dt: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    *,
    z: torch.Tensor | None = None,
    delta_bias: torch.Tensor | None = None,
    delta_softplus: bool = False,
    impl: ScanImpl = "auto",
) -> torch.Tensor:
    """Selective scan, dispatching to an implementation.

    With the optional arguments this is the whole of ``mamba_ssm.selective_scan_fn``:
    ``dt <- softplus(dt + delta_bias)`` before the recurrence and ``y <- y * silu(z)`` after it. The
    ``"mamba_ssm"`` implementation fuses both into its CUDA kernel; the others compute them with torch
    in float32 around the scan.

    Parameters
    ----------
    x, dt, A, B, C, D
        As in :func:`selective_scan_ref` (``dt`` raw when ``delta_softplus`` is set).
    z
        ``(batch, L, Din)`` gate, or ``None``.
    delta_bias
        ``(Din,)`` added to ``dt`` before the softplus, or ``None``.
    delta_softplus
        Apply softplus to ``dt (+ delta_bias)``.
    impl
        ``"auto"`` (see :func:`default_scan_impl`), ``"loop"``, ``"chunked"``, ``"numba"`` (CPU),
        ``"mamba_ssm"`` (CUDA) or ``"ref"`` / ``"naive"`` (the slow oracle).

    Returns
    -------
    torch.Tensor
        ``(batch, L, Din)`` in ``x``'s dtype.
    """
    if impl not in SCAN_IMPLS:
        raise ValueError(f"unknown scan impl {impl!r}; expected one of {', '.join(map(repr, SCAN_IMPLS))}")
    if impl == "auto":
        impl = default_scan_impl(x.device)
    if impl == "mamba_ssm":
        _check(x, dt, A, B, C, D)
        from ._scan_mamba_ssm import selective_scan_mamba_ssm

        return selective_scan_mamba_ssm(
            x, dt, A, B, C, D, z=z, delta_bias=delta_bias, delta_softplus=delta_softplus
        )
    if delta_bias is not None or delta_softplus:
        with torch.autocast(device_type=x.device.type, enabled=False):
            dt = dt.float() if dt.dtype in (torch.float16, torch.bfloat16) else dt
            if delta_bias is not None:
                dt = dt + delta_bias.to(dt.dtype)
            if delta_softplus:
                dt = F.softplus(dt)
    if impl == "loop":
        y = selective_scan_loop(x, dt, A, B, C, D)
    elif impl == "chunked":
        y = selective_scan_chunked(x, dt, A, B, C, D)
    elif impl == "numba":
        y = selective_scan_numba(x, dt, A, B, C, D)
    else:
        y = selective_scan_ref(x, dt, A, B, C, D)
    if z is not None:
        with torch.autocast(device_type=x.device.type, enabled=False):
            yf = y.float() if y.dtype in (torch.float16, torch.bfloat16) else y
            y = (yf * F.silu(z.to(yf.dtype))).to(x.dtype)
    return y
