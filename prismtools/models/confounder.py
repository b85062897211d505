"""Confounder encoder ``g_omega``: per-gene background-state gates from the signal tracks.

Architecture (``T`` tracks, model width ``D``, ``n`` strata)::

    Conv1d(T -> 8, k 7)  - BatchNorm - ReLU - MaxPool 4
    Conv1d(8 -> 16, k 5) - BatchNorm - ReLU - MaxPool 4
    Conv1d(16 -> 32, k 3)- BatchNorm - ReLU - MaxPool 4
    global average pool -> Linear(32 -> D * n) -> sigmoid -> (B, n, D)

Convolutions use 'same' padding (``k // 2``) and the pools ``ceil_mode=True``, so any length ``L >= 1``
works (the length goes ``L -> ceil(L/4) -> ceil(L/16) -> ceil(L/64)``, never below 1).

Parameters for ``T = 3, D = 128, n = 2`` (exactly 10,960)::

    conv1 3*8*7 + 8 = 176,  bn1 2*8 = 16
    conv2 8*16*5 + 16 = 656, bn2 2*16 = 32
    conv3 16*32*3 + 32 = 1,568, bn3 2*32 = 64
    linear 32*256 + 256 = 8,448
    total 10,960
"""

from __future__ import annotations

import torch
import torch.nn as nn

__all__ = ["ConfounderEncoder"]


class ConfounderEncoder(nn.Module):
    """Encode ``(B, T, L)`` tracks into ``n_strata`` sigmoid gate vectors ``(B, n_strata, d_model)``.

    Parameters
    ----------
    n_tracks
        Number of input signal tracks ``T``.
    d_model
        Gate width ``D`` (the model width).
    n_strata
        Number of background states ``n``.
    channels
        Conv widths.
    kernels
        Conv kernel sizes.
    pool
        Max-pool size (and stride) after each conv block.
    """

    def __init__(
        self,
        n_tracks: int,
        d_model: int = 128,
        n_strata: int = 2,
        *,
        channels: tuple[int, ...] = (8, 16, 32),
        kernels: tuple[int, ...] = (7, 5, 3),
        pool: int = 4,
    ) -> None:
        super().__init__()
        if len(channels) != len(kernels):
            raise ValueError("channels and kernels must have the same length")
        self.n_tracks, self.d_model, self.n_strata = n_tracks, d_model, n_strata
        layers: list[nn.Module] = []
        c_in = n_tracks
        for c_out, k in zip(channels, kernels):
            layers += [
                nn.Conv1d(c_in, c_out, kernel_size=k, padding=k // 2),
                nn.BatchNorm1d(c_out),
                nn.ReLU(),
                nn.MaxPool1d(pool, ceil_mode=True),
            ]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.proj = nn.Linear(c_in, d_model * n_strata)

    def logits(self, tracks: torch.Tensor) -> torch.Tensor:
        """Pre-sigmoid gate logits ``(B, n_strata, d_model)`` for tracks ``(B, T, L)``."""
        feats = self.features(tracks).mean(dim=-1)  # global average pool -> (B, C)
        return self.proj(feats).view(tracks.shape[0], self.n_strata, self.d_model)

    def forward(self, tracks: torch.Tensor) -> torch.Tensor:
        """Gates ``sigmoid(logits)`` of shape ``(B, n_strata, d_model)``."""
        return torch.sigmoid(self.logits(tracks))
