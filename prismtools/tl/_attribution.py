"""``pt.tl.attribute``: per-position attributions of a Prism model's prediction to its sequence and tracks."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from anndata import AnnData

from .._progress import progress_bar
from ._analyses import _clean
from ._data import sequential_batches

logger = logging.getLogger(__name__)

METHODS = ("integrated_gradients", "saliency")
BASELINES = ("zero", "mean")
N_CHANNELS = 4


def _upsample(tracks: torch.Tensor, window: dict) -> torch.Tensor:
    """Binned tracks (B, T, n_bins) to per-base (B, T, width), as :func:`prismtools.tl._data.to_device` does."""
    bin_size, width = window["bin_size"], window["width"]
    if not window["upsample"] or bin_size == 1:
        return tracks
    t = tracks.repeat_interleave(bin_size, dim=2)
    if t.shape[2] < width:
        t = torch.cat([t, t[:, :, -1:].expand(-1, -1, width - t.shape[2])], dim=2)
    return t[:, :, :width]


def _pred(net, codes, onehot, tracks, cov, window) -> torch.Tensor:
    """Plain-path prediction from a float one-hot sequence (B, L, 4) and float binned tracks (B, T, n_bins)."""
    emb = net.embed_onehot(onehot) if onehot is not None else None
    trk = _upsample(tracks, window) if tracks is not None else None
    return net.predict_from_embedding(emb, trk, cov)


def _resolve_genes(adata: AnnData, genes) -> np.ndarray:
    if genes is None:
        return np.arange(adata.n_obs)
    if isinstance(genes, str):
        genes = [genes]
    arr = np.asarray(genes)
    if arr.dtype == bool:
        if arr.shape != (adata.n_obs,):
            raise ValueError(f"A boolean genes= mask needs {adata.n_obs} values, got {arr.shape}.")
        return np.flatnonzero(arr)
    if np.issubdtype(arr.dtype, np.integer):
        if arr.size and (arr.min() < 0 or arr.max() >= adata.n_obs):
            raise IndexError(f"genes= indices must lie in [0, {adata.n_obs}).")
        return np.unique(arr)
    index = pd.Index(adata.obs_names)
    pos = index.get_indexer(arr.astype(str))
    if (pos < 0).any():
        missing = list(arr[pos < 0][:5])
        raise KeyError(f"genes {missing} are not in adata.obs_names.")
    return np.unique(pos)


def attribute(
    model,
    adata: AnnData | None = None,
    *,
    method: str = "integrated_gradients",
    n_steps: int = 32,
    baseline: str = "zero",
    genes: str | Sequence | np.ndarray | None = None,
    batch_size: int = 64,
    key_added: str = "attr",
) -> None:
    """Per-position attributions of the prediction to the DNA sequence and to each input track.

    Attributions explain the plain-path prediction ``pred`` (the one :meth:`Prism.predict` reports) of each
    gene. Covariates are held at their values (they are not attributed). The sequence enters the network as
    a one-hot ``x`` (L x 4; N = all zeros) through ``Linear(4 -> D)``; attributions are computed on that
    float one-hot and summed over the 4 channels, so a position's value is the contribution of the base
    that is there. Tracks are attributed at their stored resolution (per bin).

    ``method="integrated_gradients"``
        ``(x - x') * mean_k grad f(x' + a_k (x - x'))`` with ``a_k = (k + 1/2) / n_steps`` (midpoint rule) and
        ``x'`` the baseline. Completeness: over all positions of all inputs the attributions sum to
        ``f(x) - f(x')`` (written to ``obs``), up to an integration error that shrinks with ``n_steps``: about
        as ``1 / n_steps`` for networks with ReLUs (the gradient jumps along the path), faster where smooth.
        ``uns[key_added]["params"]`` records the largest error; 32 to 128 steps are usual.
    ``method="saliency"``
        Gradient x input, ``x * grad f(x)`` (one backward pass; ``n_steps`` and ``baseline`` unused).

    Parameters
    ----------
    model
        A :class:`~prismtools.tl.Prism` (trained).
    adata
        AnnData to attribute (default: the model's); must match the model as in :meth:`Prism.predict`.
    method
        ``"integrated_gradients"`` or ``"saliency"``.
    n_steps
        Integration steps of integrated gradients.
    baseline
        Reference input ``x'`` of integrated gradients: ``"zero"`` (sequence all N, tracks 0) or ``"mean"``
        (sequence 1/4 per base, tracks their per-position mean over the training genes,
        :meth:`Prism.track_means`).
    genes
        Genes to attribute (obs names, integer positions or a boolean mask); default all. Other genes get NaN.
    batch_size
        Inputs per forward/backward pass (genes x integration steps).
    key_added
        Prefix of the fields written.

    Returns
    -------
    Nothing. Writes (all genes; NaN for genes not attributed):

    ``obsm[f"{key_added}_sequence"]``
        float32 (n_genes, width): sequence attribution per position (if the model uses the sequence).
    ``obsm[f"{key_added}_tracks"]``
        float32 (n_genes, n_tracks, n_bins): attribution per track and bin, tracks in the model's input order
        (if the model uses tracks).
    ``obs[f"{key_added}_delta"]``
        integrated gradients only: ``f(x) - f(x')``, what the attributions of a gene add up to.
    ``uns[key_added]``
        ``{"params": {...}}``: method, n_steps, baseline, sample, tracks (names), roles, width, bin_size,
        n_genes (attributed), covariates, and the max / median over genes of the completeness error
        ``|sum of attributions - delta|`` (integrated gradients).

    Examples
    --------
    >>> import prismtools as pt
    >>> adata = pt.datasets.toy(n_genes=32, width=64)
    >>> model = pt.tl.Prism(adata, sample="toy", d_model=8, n_layers=1)
    >>> model.fit(max_steps=3, batch_size=8, warmup_steps=1, progress=False)
    >>> pt.tl.attribute(model, adata, genes=adata.obs_names[:4], n_steps=4)
    >>> adata.obsm["attr_tracks"].shape
    (32, 3, 64)
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}.")
    if baseline not in BASELINES:
        raise ValueError(f"baseline must be one of {BASELINES}, got {baseline!r}.")
    if int(n_steps) != n_steps or n_steps < 1:
        raise ValueError(f"n_steps must be an integer >= 1, got {n_steps!r}.")
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}.")
    ig = method == "integrated_gradients"
    steps = int(n_steps) if ig else 1
    adata, track_idx = model._adata_for(adata)
    rows = _resolve_genes(adata, genes)
    reg = model.registry
    use_seq, use_trk = bool(reg["use_sequence"]), bool(reg["use_tracks"])
    window = model._window()
    width, bin_size = int(window["width"]), int(window["bin_size"])
    n_bins = width // bin_size
    device = model._inference_device()
    net = model.module
    dtype = next(net.parameters()).dtype
    data = model._dataset(adata, track_idx)

    seq_base = trk_base = None
    if ig and use_seq:
        seq_base = torch.full((width, N_CHANNELS), 0.25 if baseline == "mean" else 0.0, dtype=dtype, device=device)
    if ig and use_trk:
        if baseline == "mean":
            means = model.track_means(None if model.adata is not None else adata)
            trk_base = torch.as_tensor(means, dtype=dtype, device=device)
        else:
            trk_base = torch.zeros((len(track_idx), n_bins), dtype=dtype, device=device)

    seq_attr = np.full((adata.n_obs, width), np.nan, np.float32) if use_seq else None
    trk_attr = np.full((adata.n_obs, len(track_idx), n_bins), np.nan, np.float32) if use_trk else None
    delta = np.full(adata.n_obs, np.nan, np.float32)
    err = []
    genes_per_batch = max(1, int(batch_size) // steps)
    alphas = (torch.arange(steps, dtype=dtype, device=device) + 0.5) / steps if ig else torch.ones(1, dtype=dtype)
    alphas = alphas.to(device)

    was_training = net.training
    net.eval()
    try:
        with (
            torch.enable_grad(),
            progress_bar(total=len(rows), desc="attribute", unit="gene") as bar,
        ):
            for idx in sequential_batches(rows, genes_per_batch):
                b = data[idx]
                g = len(idx)
                codes = onehot = tracks = cov = None
                if use_seq:
                    codes = b["sequence"].to(device).long()
                    onehot = torch.nn.functional.one_hot(codes.clamp(max=N_CHANNELS), N_CHANNELS + 1)
                    onehot = onehot[..., :N_CHANNELS].to(dtype)  # N (code 4) -> all zeros
                if use_trk:
                    tracks = b["tracks"].to(device=device, dtype=dtype)
                if "covariates" in b:
                    cov = b["covariates"].to(device=device, dtype=dtype)
                g_seq = torch.zeros_like(onehot) if use_seq else None
                g_trk = torch.zeros_like(tracks) if use_trk else None
                per_pass = max(1, int(batch_size) // g)
                for a0 in range(0, steps, per_pass):
                    a = alphas[a0 : a0 + per_pass]
                    k = len(a)
                    inputs = []
                    s_in = t_in = None
                    if use_seq:
                        base = seq_base if ig else torch.zeros_like(onehot[0])
                        s_in = (base + a.view(k, 1, 1, 1) * (onehot - base).unsqueeze(0)).reshape(k * g, width, -1)
                        s_in.requires_grad_(True)
                        inputs.append(s_in)
                    if use_trk:
                        base = trk_base if ig else torch.zeros_like(tracks[0])
                        t_in = base + a.view(k, 1, 1, 1) * (tracks - base).unsqueeze(0)
                        t_in = t_in.reshape(k * g, *tracks.shape[1:])
                        t_in.requires_grad_(True)
                        inputs.append(t_in)
                    rep = lambda x: None if x is None else x.repeat(k, *([1] * (x.dim() - 1)))  # noqa: E731
                    pred = _pred(net, rep(codes), s_in, t_in, rep(cov), window)
                    grads = torch.autograd.grad(pred.sum(), inputs)
                    grads = list(grads)
                    if use_seq:
                        g_seq += grads.pop(0).reshape(k, g, width, -1).sum(0)
                    if use_trk:
                        g_trk += grads.pop(0).reshape(k, g, *tracks.shape[1:]).sum(0)
                total = torch.zeros(g, dtype=dtype, device=device)
                if use_seq:
                    diff = onehot - seq_base if ig else onehot
                    att = (diff * g_seq / steps).sum(-1)
                    seq_attr[idx] = att.detach().float().cpu().numpy()
                    total += att.sum(-1)
                if use_trk:
                    diff = tracks - trk_base if ig else tracks
                    att = diff * g_trk / steps
                    trk_attr[idx] = att.detach().float().cpu().numpy()
                    total += att.sum((-1, -2))
                if ig:
                    with torch.no_grad():
                        f_x = _pred(net, codes, onehot, tracks, cov, window)
                        f_0 = _pred(
                            net, codes, None if seq_base is None else seq_base.expand(g, -1, -1),
                            None if trk_base is None else trk_base.expand(g, -1, -1), cov, window,
                        )
                    d = (f_x - f_0).detach()
                    delta[idx] = d.float().cpu().numpy()
                    err.append((total.detach() - d).abs().float().cpu().numpy())
                bar.update(g)
    finally:
        net.train(was_training)

    k = key_added
    written_obsm = []
    if use_seq:
        adata.obsm[f"{k}_sequence"] = seq_attr
        written_obsm.append(f"{k}_sequence")
    elif f"{k}_sequence" in adata.obsm:
        del adata.obsm[f"{k}_sequence"]
    if use_trk:
        adata.obsm[f"{k}_tracks"] = trk_attr
        written_obsm.append(f"{k}_tracks")
    elif f"{k}_tracks" in adata.obsm:
        del adata.obsm[f"{k}_tracks"]
    params = {
        "method": method, "n_steps": steps, "baseline": baseline if ig else "none", "sample": model.sample,
        "tracks": model.tracks, "roles": [t["role"] for t in reg["tracks"]], "width": width, "bin_size": bin_size,
        "n_genes": int(len(rows)), "covariates": model.covariates, "obsm": written_obsm,
    }
    if ig:
        adata.obs[f"{k}_delta"] = delta
        e = np.concatenate(err) if err else np.zeros(0)
        params["completeness_error_max"] = float(e.max()) if len(e) else float("nan")
        params["completeness_error_median"] = float(np.median(e)) if len(e) else float("nan")
        params["obs"] = [f"{k}_delta"]
        logger.info(
            "integrated gradients (%d steps) on %d genes: completeness error max %.3g, median %.3g",
            steps, len(rows), params["completeness_error_max"], params["completeness_error_median"],
        )
    adata.uns[k] = {"params": _clean(params)}
