"""Bidirectional Mamba (BiMamba) backbone in plain torch.

A Mamba mixer (selective SSM) run in both directions over the sequence, as in Caduceus' BiMamba with
reverse-complement equivariance off: the forward direction and the reverse direction (flip the input,
run, flip the output back) are added, and the input and output projections are tied (shared) between
the directions while the convolution, ``x_proj``, ``dt_proj``, ``A_log`` and ``D`` are per direction.
Blocks are pre-norm residual (``h <- h + mixer(RMSNorm(h))``) with a final RMSNorm, no positional encoding.

Parameter count at the reference size (``d_model`` 128, ``expand`` 2 so ``d_inner`` 256, ``d_state``
16, ``d_conv`` 4, ``dt_rank`` 8, 4 layers)::

    per layer
      in_proj   128 -> 2*256, no bias (tied)            65,536
      out_proj  256 -> 128,   no bias (tied)             32,768
      per direction (x 2 = 36,352)                       18,176
        conv1d   depthwise 256 x 4 + bias 256             1,280
        x_proj   256 -> 8 + 16 + 16, no bias             10,240
        dt_proj  8 -> 256 + bias 256                      2,304
        A_log    256 x 16                                 4,096
        D        256                                        256
      RMSNorm   128                                         128
      total                                             134,784
    4 layers                                            539,136
    final RMSNorm                                           128
    backbone                                            539,264   (~0.539 M)
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .scan import selective_scan

__all__ = ["MambaDirection", "BiMambaMixer", "BiMambaBlock", "BiMambaBackbone"]


class MambaDirection(nn.Module):
    """The per-direction part of a Mamba mixer: causal depthwise conv, SiLU, ``x_proj``, ``dt_proj`` and
    the selective scan with its own ``A_log`` and ``D``.

    Parameters
    ----------
    d_inner
        Inner width ``Din``.
    d_state
        SSM state size ``N``.
    d_conv
        Causal convolution width.
    dt_rank
        Rank of the step-size projection.
    dt_min, dt_max
        Range of the initial step sizes (log-uniform).
    dt_init_floor
        Lower clamp of the initial step sizes.
    """

    def __init__(
        self,
        d_inner: int,
        d_state: int = 16,
        d_conv: int = 4,
        dt_rank: int = 8,
        *,
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        dt_init_floor: float = 1e-4,
    ) -> None:
        super().__init__()
        self.d_inner, self.d_state, self.d_conv, self.dt_rank = d_inner, d_state, d_conv, dt_rank
        self.conv1d = nn.Conv1d(d_inner, d_inner, kernel_size=d_conv, groups=d_inner, padding=d_conv - 1, bias=True)
        self.x_proj = nn.Linear(d_inner, dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(dt_rank, d_inner, bias=True)
        # S4D-real initialisation: A = -(1..N) for every channel; stored as log for positivity.
        a = torch.arange(1, d_state + 1, dtype=torch.float32).repeat(d_inner, 1)
        self.A_log = nn.Parameter(torch.log(a))
        self.D = nn.Parameter(torch.ones(d_inner))
        self.A_log._no_weight_decay = True  # type: ignore[attr-defined]
        self.D._no_weight_decay = True  # type: ignore[attr-defined]
        self._dt_range = (dt_min, dt_max, dt_init_floor)
        self.reset_dt_parameters()

    @torch.no_grad()
    def reset_dt_parameters(self, generator: torch.Generator | None = None) -> None:
        """Standard Mamba ``dt_proj`` initialisation.

        Weights uniform in ``+-dt_rank**-0.5``; the bias is the inverse softplus of step sizes drawn
        log-uniformly in ``[dt_min, dt_max]`` so that ``softplus(bias)`` starts in that range.
        """
        dt_min, dt_max, floor = self._dt_range
        std = self.dt_rank**-0.5
        self.dt_proj.weight.uniform_(-std, std, generator=generator)
        u = torch.rand(self.d_inner, generator=generator)
        dt = torch.exp(u * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)).clamp(min=floor)
        self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # inverse softplus

    def forward(self, x: torch.Tensor, scan: str = "auto", z: torch.Tensor | None = None) -> torch.Tensor:
        """Run the direction on ``x`` of shape ``(B, L, Din)`` (already in this direction's order).

        Returns the scan output ``y`` ``(B, L, Din)``, multiplied by ``silu(z)`` when a gate ``z``
        (same shape and order) is given. As in ``mamba_ssm``'s ``Mamba``, the ``dt_proj`` bias and the
        softplus are applied in float32 by the scan (fused in its CUDA kernel on the mamba-ssm path).
        """
        length = x.shape[1]
        xc = self.conv1d(x.transpose(1, 2))[..., :length].transpose(1, 2)  # causal
        xc = F.silu(xc)
        dt_raw, b, c = self.x_proj(xc).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = F.linear(dt_raw, self.dt_proj.weight)  # bias and softplus inside the scan
        a = -torch.exp(self.A_log.float())
        return selective_scan(
            xc,
            dt,
            a,
            b,
            c,
            self.D.float(),
            z=z,
            delta_bias=self.dt_proj.bias.float(),
            delta_softplus=True,
            impl=scan,
        )


class BiMambaMixer(nn.Module):
    """Bidirectional Mamba mixer with tied in/out projections (Caduceus BiMamba, strategy "add").

    ``out = out_proj(y_fwd * silu(z) + flip(y_rev(flip(x)) * silu(flip(z))))``; since ``out_proj`` has
    no bias and is shared, projecting the sum equals summing the two projected directions, which is
    what Caduceus computes with two ``mamba_ssm.Mamba`` modules sharing ``in_proj`` and ``out_proj``
    (checked in ``tests/models/test_mamba_ssm_parity.py``). Each direction applies the gate inside its
    scan, as ``selective_scan_fn`` does.
    """

    def __init__(self, d_model: int, d_state: int = 16, d_conv: int = 4, expand: int = 2, dt_rank: int = 8) -> None:
        super().__init__()
        self.d_model = d_model
        self.d_inner = expand * d_model
        self.in_proj = nn.Linear(d_model, 2 * self.d_inner, bias=False)
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=False)
        self.fwd = MambaDirection(self.d_inner, d_state, d_conv, dt_rank)
        self.rev = MambaDirection(self.d_inner, d_state, d_conv, dt_rank)

    def forward(self, hidden: torch.Tensor, scan: str = "auto") -> torch.Tensor:
        """``(B, L, d_model) -> (B, L, d_model)``."""
        x, z = self.in_proj(hidden).chunk(2, dim=-1)
        y_fwd = self.fwd(x, scan, z=z)
        y_rev = self.rev(x.flip(1), scan, z=z.flip(1)).flip(1)
        return self.out_proj(y_fwd + y_rev)


class BiMambaBlock(nn.Module):
    """Pre-norm residual block: ``h + BiMambaMixer(RMSNorm(h))``."""

    def __init__(self, d_model: int, **mixer_kwargs: int) -> None:
        super().__init__()
        self.norm = nn.RMSNorm(d_model, eps=1e-5)
        self.mixer = BiMambaMixer(d_model, **mixer_kwargs)

    def forward(self, hidden: torch.Tensor, scan: str = "auto") -> torch.Tensor:  # noqa: D102
        return hidden + self.mixer(self.norm(hidden), scan)


class BiMambaBackbone(nn.Module):
    """Stack of BiMamba blocks with a final RMSNorm; ``(B, L, d_model) -> (B, L, d_model)``.

    Parameters
    ----------
    d_model
        Model width.
    n_layers
        Number of residual blocks.
    d_state, d_conv, expand, dt_rank
        Mamba mixer sizes (``d_inner = expand * d_model``).
    scan
        Selective-scan implementation (see :func:`prismtools.models.selective_scan`).

    Notes
    -----
    The out projections are re-scaled by ``1/sqrt(n_layers)`` at initialisation (GPT-2 / Mamba
    pre-norm residual scaling). See the module docstring for the parameter count.
    """

    def __init__(
        self,
        d_model: int = 128,
        n_layers: int = 4,
        *,
        d_state: int = 16,
        d_conv: int = 4,
        expand: int = 2,
        dt_rank: int = 8,
        scan: str = "auto",
    ) -> None:
        super().__init__()
        self.scan = scan
        self.layers = nn.ModuleList(
            BiMambaBlock(d_model, d_state=d_state, d_conv=d_conv, expand=expand, dt_rank=dt_rank)
            for _ in range(n_layers)
        )
        self.norm_f = nn.RMSNorm(d_model, eps=1e-5)
        with torch.no_grad():
            for layer in self.layers:
                layer.mixer.out_proj.weight.div_(math.sqrt(max(1, n_layers)))

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:  # noqa: D102
        for layer in self.layers:
            hidden = layer(hidden, self.scan)
        return self.norm_f(hidden)
