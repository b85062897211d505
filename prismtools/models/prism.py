"""PrismNet: sequence + signal model with backdoor adjustment over learned background states (Prism).

The plain path ``Z_0 = seq + H`` and ``n`` intervened paths
``Z_k = seq + H * a_k`` run through ONE shared BiMamba backbone (as a single batch of ``(n + 1) * B``);
a shared head maps ``[meanpool(h), covariates]`` to the prediction; the backdoor-adjusted prediction
uses ``meanpool(mean_k h_k)`` with the uniform prior ``P(c) = 1/n``.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from .confounder import ConfounderEncoder
from .mamba import BiMambaBackbone

logger = logging.getLogger(__name__)

__all__ = ["PrismNet"]

#: Number of nucleotide channels (A, C, G, T); code 4 (N) embeds as the all-zero one-hot.
N_BASES = 4


class PrismNet(nn.Module):
    """Prism gene-expression model (also the concatenation, sequence-only and signals-only baselines).

    Parameters
    ----------
    n_tracks
        Number of per-position signal tracks ``T`` (e.g. 3: H3K27ac, DNase, Hi-C).
    n_covariates
        Number of per-gene covariates ``C`` concatenated before the head (0 for none).
    d_model
        Model width ``D``.
    n_layers
        BiMamba layers.
    n_strata
        Number of background states ``n`` of the confounder.
    use_sequence
        Embed the DNA sequence (``Linear(4 -> D)`` of the one-hot, N = all zeros).
    use_tracks
        Embed the tracks per position (signal encoder ``g_theta = Linear(T -> D)``).
    intervene
        Compute the intervened paths, gates and ``pred_do`` (Prism). ``False`` gives the plain
        concatenation model: only the plain path is computed and no confounder encoder is built.
        Without tracks (``use_tracks=False``) there is no confounder to adjust for: every stratum path
        equals the plain path, so only the plain path is computed and ``stratum_pred`` repeats ``pred``.
    d_state, d_conv, expand, dt_rank
        Mamba sizes.
    scan
        Selective-scan implementation (``"auto"``, ``"loop"``, ``"chunked"``, ``"ref"``).

    Notes
    -----
    Parameter count at the reference size (``T = 3, C = 9, D = 128``, 4 layers, ``n = 2``): **585,681**

    ================================================  =======
    sequence embedding ``Linear(4 -> 128)``               640
    signal encoder ``Linear(3 -> 128)``                   512
    confounder encoder (see ``confounder.py``)         10,960
    BiMamba backbone (see ``mamba.py``)               539,264
    head ``Linear(137 -> 128)``                        17,664
    head ``Linear(128 -> 128)``                        16,512
    head ``Linear(128 -> 1)``                             129
    total                                             585,681
    ================================================  =======

    The concatenation baseline (``intervene=False``) has 574,721 (no confounder encoder).
    """

    def __init__(
        self,
        *,
        n_tracks: int,
        n_covariates: int,
        d_model: int = 128,
        n_layers: int = 4,
        n_strata: int = 2,
        use_sequence: bool = True,
        use_tracks: bool = True,
        intervene: bool = True,
        d_state: int = 16,
        d_conv: int = 4,
        expand: int = 2,
        dt_rank: int = 8,
        scan: str = "auto",
    ) -> None:
        super().__init__()
        if not use_sequence and not use_tracks:
            raise ValueError("PrismNet needs at least one input: use_sequence or use_tracks must be True")
        if use_tracks and n_tracks < 1:
            raise ValueError(f"use_tracks=True needs n_tracks >= 1, got {n_tracks}")
        if n_covariates < 0 or n_strata < 1:
            raise ValueError("n_covariates must be >= 0 and n_strata >= 1")
        self.config: dict[str, Any] = dict(
            n_tracks=int(n_tracks),
            n_covariates=int(n_covariates),
            d_model=int(d_model),
            n_layers=int(n_layers),
            n_strata=int(n_strata),
            use_sequence=bool(use_sequence),
            use_tracks=bool(use_tracks),
            intervene=bool(intervene),
            d_state=int(d_state),
            d_conv=int(d_conv),
            expand=int(expand),
            dt_rank=int(dt_rank),
            scan=str(scan),
        )
        self.n_tracks, self.n_covariates, self.d_model, self.n_strata = n_tracks, n_covariates, d_model, n_strata
        self.use_sequence, self.use_tracks, self.intervene = use_sequence, use_tracks, intervene
        self.seq_embed = nn.Linear(N_BASES, d_model) if use_sequence else None
        self.signal_encoder = nn.Linear(n_tracks, d_model) if use_tracks else None
        self.confounder = ConfounderEncoder(n_tracks, d_model, n_strata) if (intervene and use_tracks) else None
        self.backbone = BiMambaBackbone(
            d_model, n_layers, d_state=d_state, d_conv=d_conv, expand=expand, dt_rank=dt_rank, scan=scan
        )
        self.head = nn.Sequential(
            nn.Linear(d_model + n_covariates, d_model),
            nn.ReLU(),
            nn.Linear(d_model, d_model),
            nn.ReLU(),
            nn.Linear(d_model, 1),
        )
        logger.debug("PrismNet %s: %d parameters", self.config, sum(p.numel() for p in self.parameters()))

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> PrismNet:
        """Rebuild a model (fresh weights) from :attr:`config`."""
        return cls(**config)

    @property
    def scan(self) -> str:
        """Selective-scan implementation used by the backbone (settable)."""
        return self.backbone.scan

    @scan.setter
    def scan(self, value: str) -> None:
        self.backbone.scan = value
        self.config["scan"] = value

    # ------------------------------------------------------------------------------------------------
    def _embed_sequence(self, sequence: torch.Tensor) -> torch.Tensor:
        """``Linear(4 -> D)`` of the one-hot, as a lookup: row 4 (N) is the zero one-hot, i.e. the bias."""
        assert self.seq_embed is not None
        w = self.seq_embed.weight  # (D, 4)
        table = torch.cat([w.t(), w.new_zeros(1, w.shape[0])], dim=0)  # (5, D)
        return F.embedding(sequence.long(), table) + self.seq_embed.bias

    def embed_onehot(self, onehot: torch.Tensor) -> torch.Tensor:
        """The sequence embedding ``Linear(4 -> D)`` of a float one-hot ``(B, L, 4)`` (an all-zero row is N).

        Differentiable in ``onehot``, unlike the integer-code lookup of :meth:`forward`; equal to it on one-hots.
        """
        assert self.seq_embed is not None, "this network does not use the sequence"
        return onehot @ self.seq_embed.weight.t() + self.seq_embed.bias

    def predict_from_embedding(
        self,
        sequence_embedding: torch.Tensor | None,
        tracks: torch.Tensor | None,
        covariates: torch.Tensor | None,
    ) -> torch.Tensor:
        """The plain-path prediction ``(B,)`` from a sequence embedding ``(B, L, D)``: the attribution hook.

        Computes what :meth:`forward` returns as ``"pred"`` (``Z_0 = seq + H``, which does not depend on the
        gates), with the sequence embedding given instead of looked up, and without the ``n`` intervened paths.
        ``sequence_embedding`` is e.g. :meth:`embed_onehot` of a (perturbed, interpolated) one-hot; ``tracks``
        ``(B, T, L)`` and ``covariates`` ``(B, C)`` as in :meth:`forward`.
        """
        dtype = self._param_dtype()
        parts = []
        if self.use_sequence:
            if sequence_embedding is None:
                raise ValueError("this model uses the sequence (use_sequence=True) but sequence_embedding is None")
            parts.append(sequence_embedding)
        if self.use_tracks:
            if tracks is None or tracks.dim() != 3 or tracks.shape[1] != self.n_tracks:
                shape = None if tracks is None else tuple(tracks.shape)
                raise ValueError(f"tracks must be (B, {self.n_tracks}, L), got {shape}")
            parts.append(self.signal_encoder(tracks.to(dtype).transpose(1, 2)))
        z = parts[0] if len(parts) == 1 else parts[0] + parts[1]
        cov = self._check_covariates(covariates, z.shape[0], dtype, z.device)
        feats = self.backbone(z).mean(dim=1)
        if cov is not None:
            feats = torch.cat([feats, cov], dim=-1)
        return self.head(feats).squeeze(-1)

    def _param_dtype(self) -> torch.dtype:
        return self.head[0].weight.dtype

    def forward(
        self,
        sequence: torch.Tensor | None,
        tracks: torch.Tensor | None,
        covariates: torch.Tensor | None,
        *,
        return_embedding: bool = False,
    ) -> dict[str, torch.Tensor]:
        """Predict expression.

        Parameters
        ----------
        sequence
            ``(B, L)`` integer codes A, C, G, T, N = 0..4 (uint8 or long); ``None`` when
            ``use_sequence=False``.
        tracks
            ``(B, T, L)`` float signals (channels first); ``None`` when ``use_tracks=False``.
        covariates
            ``(B, C)`` float, or ``None`` when ``n_covariates == 0``.
        return_embedding
            Also return ``"hidden"``, the plain path's per-position final hidden states ``(B, L, D)``,
            and, with intervention, ``"strata_embedding"`` ``(B, n, D)`` (meanpool of each ``h_k``).

        Returns
        -------
        dict
            ``"pred"`` ``(B,)``; ``"embedding"`` ``(B, D)`` = meanpool(h_0); with ``intervene``:
            ``"stratum_pred"`` ``(B, n)``, and when tracks are used also ``"pred_do"`` ``(B,)`` and
            ``"gates"`` ``(B, n, D)``.
        """
        dtype = self._param_dtype()
        seq_emb = None
        signal = None
        if self.use_sequence:
            if sequence is None:
                raise ValueError("this model uses the sequence (use_sequence=True) but sequence is None")
            if sequence.dim() != 2:
                raise ValueError(f"sequence must be (B, L) integer codes, got shape {tuple(sequence.shape)}")
            seq_emb = self._embed_sequence(sequence)
        if self.use_tracks:
            if tracks is None:
                raise ValueError("this model uses tracks (use_tracks=True) but tracks is None")
            if tracks.dim() != 3 or tracks.shape[1] != self.n_tracks:
                raise ValueError(f"tracks must be (B, {self.n_tracks}, L), got shape {tuple(tracks.shape)}")
            tracks = tracks.to(dtype)
            signal = self.signal_encoder(tracks.transpose(1, 2))  # (B, L, D)
        if seq_emb is not None and signal is not None and seq_emb.shape[:2] != signal.shape[:2]:
            raise ValueError(
                f"sequence (B, L) = {tuple(seq_emb.shape[:2])} and tracks (B, L) = {tuple(signal.shape[:2])} differ"
            )
        base = seq_emb if seq_emb is not None else signal
        batch = base.shape[0]
        cov = self._check_covariates(covariates, batch, dtype, base.device)

        out: dict[str, torch.Tensor] = {}
        n_paths = 1
        if self.confounder is not None:
            gates = self.confounder(tracks)  # (B, n, D)
            out["gates"] = gates
            n_paths = 1 + self.n_strata
            # Z_0 = seq + H (gate 1), Z_k = seq + H * a_k: one (n + 1) * B batch for the shared backbone
            path_gates = torch.cat([gates.new_ones(1, batch, self.d_model), gates.transpose(0, 1)], dim=0)
            z = signal.unsqueeze(0) * path_gates.unsqueeze(2)  # (n + 1, B, L, D)
            if seq_emb is not None:
                z = z + seq_emb.unsqueeze(0)
            z = z.reshape(n_paths * batch, *base.shape[1:])
        elif seq_emb is not None and signal is not None:
            z = seq_emb + signal
        else:
            z = base
        hidden = self.backbone(z)  # (n_paths * B, L, D)
        pooled = hidden.mean(dim=1).view(n_paths, batch, self.d_model)
        if n_paths > 1:
            pooled_do = pooled[1:].mean(dim=0, keepdim=True)  # meanpool(mean_k h_k) = mean_k meanpool(h_k)
            feats = torch.cat([pooled, pooled_do], dim=0)
        else:
            feats = pooled
        if cov is not None:
            feats = torch.cat([feats, cov.unsqueeze(0).expand(feats.shape[0], -1, -1)], dim=-1)
        preds = self.head(feats).squeeze(-1)  # (paths, B)

        out["pred"] = preds[0]
        out["embedding"] = pooled[0]
        if n_paths > 1:
            out["stratum_pred"] = preds[1 : 1 + self.n_strata].transpose(0, 1)
            out["pred_do"] = preds[-1]
        elif self.intervene:
            out["stratum_pred"] = preds[0].unsqueeze(1).repeat(1, self.n_strata)
        if return_embedding:
            out["hidden"] = hidden[:batch]
            if n_paths > 1:
                out["strata_embedding"] = pooled[1:].transpose(0, 1)
            elif self.intervene:
                out["strata_embedding"] = pooled[0].unsqueeze(1).repeat(1, self.n_strata, 1)
        return out

    def _check_covariates(
        self, covariates: torch.Tensor | None, batch: int, dtype: torch.dtype, device: torch.device
    ) -> torch.Tensor | None:
        if self.n_covariates == 0:
            if covariates is not None and covariates.numel() > 0:
                raise ValueError("model built with n_covariates=0 but covariates were given")
            return None
        if covariates is None:
            raise ValueError(f"model expects {self.n_covariates} covariates but covariates is None")
        if covariates.shape != (batch, self.n_covariates):
            raise ValueError(f"covariates must be ({batch}, {self.n_covariates}), got {tuple(covariates.shape)}")
        return covariates.to(device=device, dtype=dtype)
