"""Prism training losses: Huber on the plain and backdoor-adjusted predictions plus gate uniformity."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["uniformity_loss", "prism_loss"]


def uniformity_loss(gates: torch.Tensor, t: float = 2.0) -> torch.Tensor:
    """Uniformity of the strata gates of each gene, averaged over the batch.

    ``L_uni = mean_b log sum_{i,j} exp(2t <a_i~, a_j~> - 2t)`` with ``a_i~`` the L2-normalised gate
    vectors of one gene (``2t<u, v> - 2t = -t ||u - v||^2`` for unit vectors). For ``n`` strata it lies
    in ``[log(n + n(n-1) e^{-4t}), log(n^2)]``; with all-positive (sigmoid) gates the cosines are
    ``>= 0`` so the lower bound is ``log(n + n(n-1) e^{-2t})`` (``log(2 + 2e^-4)`` for ``n = 2, t = 2``).

    Parameters
    ----------
    gates
        ``(B, n, D)`` gate vectors.
    t
        Temperature.

    Returns
    -------
    torch.Tensor
        Scalar loss.
    """
    if gates.dim() != 3:
        raise ValueError(f"gates must be (B, n, D), got shape {tuple(gates.shape)}")
    a = F.normalize(gates, p=2, dim=-1)
    sim = torch.matmul(a, a.transpose(1, 2))  # (B, n, n)
    return torch.logsumexp((2.0 * t * sim - 2.0 * t).flatten(1), dim=1).mean()


def prism_loss(
    out: dict[str, torch.Tensor],
    y: torch.Tensor,
    *,
    alpha: float = 1.0,
    beta: float = 1.0,
    huber_delta: float = 1.0,
    t: float = 2.0,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Prism objective ``Huber(pred, y) + alpha * Huber(pred_do, y) + beta * L_uni``.

    Terms whose inputs are absent from ``out`` (no ``"pred_do"`` / ``"gates"``, e.g. baselines) or whose
    weight is 0 are left out.

    Parameters
    ----------
    out
        Output of :meth:`PrismNet.forward`.
    y
        ``(B,)`` targets.
    alpha, beta
        Weights of the adjusted-path Huber term and of the uniformity term.
    huber_delta
        Huber threshold.
    t
        Uniformity temperature.

    Returns
    -------
    loss, parts
        The scalar loss and a dict of its (undetached) parts: ``"huber"``, and where present
        ``"huber_do"`` and ``"uniformity"``.
    """
    pred = out["pred"]
    y = y.to(pred.dtype).reshape(pred.shape)
    parts: dict[str, torch.Tensor] = {"huber": F.huber_loss(pred, y, delta=huber_delta)}
    loss = parts["huber"]
    if "pred_do" in out and alpha != 0:
        parts["huber_do"] = F.huber_loss(out["pred_do"], y, delta=huber_delta)
        loss = loss + alpha * parts["huber_do"]
    if "gates" in out and beta != 0:
        parts["uniformity"] = uniformity_loss(out["gates"], t=t)
        loss = loss + beta * parts["uniformity"]
    return loss, parts
