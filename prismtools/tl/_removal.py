"""Removing input tracks at test time: track positions, the training genes' mean tracks, replacements.

Used by :meth:`prismtools.tl.Prism.predict` (``remove_tracks=``, ``removal=``) with
:class:`~prismtools.tl._data.ReplacedTracks`, and by :meth:`prismtools.tl.Prism.track_means`.
"""

from __future__ import annotations

import numpy as np
from anndata import AnnData

from ._data import GeneBatches
from ._registry import get_split

REMOVALS = ("mean", "zero")


def track_positions(names: list[str], tracks) -> list[int]:
    """Sorted, unique positions in ``names`` (the model's input order) of track names or positions."""
    if tracks is None:
        return []
    if isinstance(tracks, (str, int, np.integer)):
        tracks = [tracks]
    out = []
    for t in tracks:
        if isinstance(t, (int, np.integer)):
            if not 0 <= int(t) < len(names):
                raise IndexError(f"Track position {t} out of range; the model's tracks are {names}.")
            out.append(int(t))
        elif t in names:
            out.append(names.index(t))
        else:
            raise KeyError(f"Track {t!r} is not an input of this model; its tracks are {names}.")
    return sorted(set(out))


def train_track_means(adata: AnnData, track_idx: list[int], split_key: str, batch_size: int = 256) -> np.ndarray:
    """Per-position mean of the tracks ``track_idx`` over ``adata``'s ``train`` genes (NaN counted as 0).

    All genes when ``adata.obs`` has no ``split_key`` column. Returns float32 (n_tracks, n_bins).
    """
    if not track_idx:
        raise ValueError("This model has no input tracks.")
    rows = np.flatnonzero(get_split(adata, split_key) == "train") if split_key in adata.obs else np.arange(adata.n_obs)
    if len(rows) == 0:
        raise ValueError(f"No 'train' genes in obs[{split_key!r}] to average the tracks over.")
    data = GeneBatches(adata, use_sequence=False, track_idx=track_idx, covariates=None)
    total = None
    for i in range(0, len(rows), int(batch_size)):
        t = data[rows[i : i + int(batch_size)]]["tracks"].numpy().astype(np.float64).sum(axis=0)
        total = t if total is None else total + t
    return (total / len(rows)).astype(np.float32)


def replacements(model, remove_tracks, removal: str, adata: AnnData | None = None) -> dict[int, np.ndarray] | None:
    """``{input position: replacement (n_bins,) float32}`` for ``model.predict(remove_tracks=, removal=)``.

    ``None`` when nothing is removed. Means come from the training AnnData's ``train`` genes (or, for a model
    loaded without one, from ``adata``'s ``train`` genes).
    """
    if removal not in REMOVALS:
        raise ValueError(f"removal must be 'mean' or 'zero', got {removal!r}.")
    pos = track_positions(model.tracks, remove_tracks)
    if not pos:
        return None
    window = model.registry["window"]
    if removal == "mean":
        means = model.track_means(None if model.adata is not None else adata)
    else:
        means = np.zeros((len(model.tracks), window["width"] // window["bin_size"]), np.float32)
    return {p: means[p] for p in pos}
