"""GPU fast path: ``mamba_ssm``'s fused CUDA ``selective_scan_fn`` (installed by ``prismtools[cuda]``).

``selective_scan_fn(u, delta, A, B, C, D, z, delta_bias, delta_softplus)`` takes channel-first layouts:
``u, delta, z`` as ``(batch, Din, L)``, ``B, C`` as ``(batch, N, L)``, ``A`` ``(Din, N)`` and
``D, delta_bias`` ``(Din,)`` in float32. It adds ``delta_bias`` and applies softplus to ``delta``, keeps the
state in float32 whatever the input dtype (float32, float16 or bfloat16: ``u, delta, z, B, C`` share it),
and multiplies the output by ``silu(z)``. This module converts from prismtools' ``(batch, L, Din)`` layout
and back.
"""

from __future__ import annotations

import functools
import logging

import torch

logger = logging.getLogger(__name__)


@functools.lru_cache(maxsize=1)
def _load():
    """``mamba_ssm``'s ``selective_scan_fn``, or ``None`` when mamba-ssm or its CUDA extension is missing."""
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
    except Exception as err:  # ImportError, or a broken build (missing CUDA symbols, triton, ...)
        logger.debug("mamba_ssm fast path unavailable: %s", err)
        return None
    return selective_scan_fn


def available() -> bool:
    """Whether ``mamba_ssm``'s CUDA selective scan can be used (package importable and CUDA present)."""
    return torch.cuda.is_available() and _load() is not None


def selective_scan_mamba_ssm(
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
) -> torch.Tensor:
    """Selective scan through ``mamba_ssm.selective_scan_fn`` (CUDA tensors only).

    Arguments as :func:`prismtools.models.selective_scan`; returns ``(batch, L, Din)`` in ``x``'s dtype.
    """
    fn = _load()
    if fn is None:
        raise ImportError(
            "scan='mamba_ssm' needs the mamba-ssm package with its CUDA extension: "
            "pip install 'prismtools[cuda]' on a CUDA machine, or use scan='auto'"
        )
    if x.device.type != "cuda":
        raise ValueError(f"scan='mamba_ssm' runs on CUDA tensors only; got tensors on {x.device}. Use scan='auto'.")
    dtype = x.dtype if x.dtype in (torch.float32, torch.float16, torch.bfloat16) else torch.float32
    u = x.to(dtype).transpose(1, 2)
    delta = dt.to(dtype).transpose(1, 2)
    b_l = B.to(dtype).transpose(1, 2)
    c_l = C.to(dtype).transpose(1, 2)
    z_l = None if z is None else z.to(dtype).transpose(1, 2)
    d_f = None if D is None else D.float()
    bias = None if delta_bias is None else delta_bias.float()
    with torch.autocast(device_type="cuda", enabled=False):
        y = fn(u, delta, A.float(), b_l, c_l, d_f, z=z_l, delta_bias=bias, delta_softplus=delta_softplus)
    return y.transpose(1, 2).to(x.dtype)
