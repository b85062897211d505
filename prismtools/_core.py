"""The gene-centric AnnData contract: accessors shared by ``pp``, ``tl`` and ``pl``.

Layout (see ``docs/data_model.md``):

- ``obs``: genes, unique index (gene id); ``chrom``, ``start``, ``end`` (0-based, half-open), ``strand``
  (``+``/``-``), ``tss`` (0-based coordinate of the first transcribed base: ``start`` on ``+``, ``end - 1`` on
  ``-``, unless the source table gave its own ``tss``), ``gene_name``; ``split`` (categorical) once set.
- ``var``: biosamples. ``X``: observed expression (float32, NaN where unmeasured). ``layers["raw"]``: untransformed.
- ``obsm["sequence"]``: uint8 codes A,C,G,T,N = 0..4, shape (n_genes, width); the TSS is at index width // 2.
- ``obsm["tracks"]``: float32 (n_genes, n_tracks, n_bins); track table ``uns["prism"]["tracks"]``.
- ``obsm["covariates"]``: float32 (n_genes, n_covariates); names in ``uns["prism"]["covariates"]``.
- ``uns["prism"]["window"]``: ``width``, ``bin_size``, ``assembly``, ``orientation``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import xarray as xr
    from anndata import AnnData

logger = logging.getLogger(__name__)

SEQUENCE_KEY = "sequence"
TRACKS_KEY = "tracks"
COVARIATES_KEY = "covariates"
UNS_KEY = "prism"
TRACK_COLUMNS = ["name", "sample", "role", "kind", "source", "transform"]
ROLES = ("foreground", "background")
KINDS = ("bigwig", "hic", "table")
BASES = "ACGTN"


def uns_safe(x):
    """A copy that ``anndata`` can write to ``uns`` and JSON can hold (NaN -> None, tuples -> lists, numpy
    scalars -> Python, other objects -> ``str``)."""
    import math

    if isinstance(x, dict):
        return {str(k): uns_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [uns_safe(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    return str(x)


def prism_uns(adata: AnnData) -> dict:
    """Return (creating if needed) ``adata.uns["prism"]``."""
    return adata.uns.setdefault(UNS_KEY, {})


def get_window(adata: AnnData, *, required: bool = True) -> dict | None:
    """Return the window spec ``{"width", "bin_size", "n_bins", "assembly", "orientation"}``."""
    win = adata.uns.get(UNS_KEY, {}).get("window")
    if win is None:
        if required:
            raise ValueError(
                "No window is set on this AnnData. Call `pt.pp.set_window(adata, width=2000, bin_size=1)` first."
            )
        return None
    win = dict(win)
    win["width"] = int(win["width"])
    win["bin_size"] = int(win["bin_size"])
    win["n_bins"] = win["width"] // win["bin_size"]
    win.setdefault("orientation", "reference")
    return win


def track_table(adata: AnnData) -> pd.DataFrame:
    """The track table (one row per track, in the order of ``obsm["tracks"]``'s second axis)."""
    tab = adata.uns.get(UNS_KEY, {}).get("tracks")
    if tab is None:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in TRACK_COLUMNS})
    if isinstance(tab, pd.DataFrame):
        out = tab.copy()
    else:  # dict of columns (as written by some anndata versions)
        out = pd.DataFrame(tab)
    out = out.reset_index(drop=True)
    for c in TRACK_COLUMNS:
        if c not in out:
            out[c] = ""
    return out[TRACK_COLUMNS].astype(str)


def set_track_table(adata: AnnData, table: pd.DataFrame) -> None:
    table = table[TRACK_COLUMNS].astype(str).reset_index(drop=True)
    table.index = table.index.astype(str)
    prism_uns(adata)["tracks"] = table


def covariate_names(adata: AnnData) -> list[str]:
    return [str(x) for x in adata.uns.get(UNS_KEY, {}).get("covariates", [])]


def resolve_tracks(adata: AnnData, tracks=None, *, sample: str | None = None) -> list[int]:
    """Indices of the named tracks (``None``: all tracks of ``sample``, or all tracks).

    Raises a clear error for unknown names.
    """
    tab = track_table(adata)
    if tracks is None:
        if sample is None:
            return list(range(len(tab)))
        idx = [i for i, s in enumerate(tab["sample"]) if s == str(sample)]
        if not idx and len(tab):
            raise KeyError(
                f"No tracks for sample {sample!r}; tracks exist for samples {sorted(set(tab['sample']))}."
            )
        return idx
    if isinstance(tracks, str):
        tracks = [tracks]
    names = list(tab["name"])
    out = []
    for t in tracks:
        if isinstance(t, (int, np.integer)):
            if not 0 <= t < len(names):
                raise IndexError(f"Track index {t} out of range (n_tracks = {len(names)}).")
            out.append(int(t))
            continue
        hits = [i for i, n in enumerate(names) if n == t]
        if sample is not None and len(hits) > 1:
            hits = [i for i in hits if tab["sample"][i] == str(sample)]
        if not hits:
            raise KeyError(f"Track {t!r} does not exist. Available tracks: {names}.")
        if len(hits) > 1:
            raise KeyError(f"Track name {t!r} is ambiguous (samples {list(tab['sample'][hits])}); pass sample=.")
        out.append(hits[0])
    return out


def bin_offsets(win: dict) -> np.ndarray:
    """bp offset of each bin's first base relative to the TSS (the TSS base has offset 0)."""
    return np.arange(win["n_bins"], dtype=np.int64) * win["bin_size"] - win["width"] // 2


def get_tracks(adata: AnnData, sample: str | None = None, *, tracks=None) -> xr.DataArray:
    """Tracks as an :class:`xarray.DataArray` with dims ``(gene, track, position)``.

    Parameters
    ----------
    adata
        Gene-centric AnnData with ``obsm["tracks"]``.
    sample
        Keep only the tracks of this biosample (``uns["prism"]["tracks"]["sample"]``).
    tracks
        Track names (or indices) to keep; default all (of ``sample``).

    Returns
    -------
    DataArray with coordinates ``gene`` (obs names), ``track`` (track names, plus ``sample``/``role``/``kind``
    as non-index coordinates) and ``position`` (bp offset of each bin from the TSS). Lazy (dask-backed)
    when the AnnData was opened with :func:`prismtools.io.read`.

    Examples
    --------
    >>> import prismtools as pt
    >>> adata = pt.datasets.toy(n_genes=8, width=32)
    >>> x = pt.get_tracks(adata, "toy")
    >>> x.dims
    ('gene', 'track', 'position')
    >>> x.sizes["track"], x.coords["role"].values.tolist()
    (3, ['foreground', 'background', 'background'])
    >>> profile = x.mean("gene")  # mean signal of each track around the TSS
    """
    import xarray as xr

    if TRACKS_KEY not in adata.obsm:
        raise KeyError("adata.obsm['tracks'] is missing; add tracks with `pt.pp.add_track` / `pt.pp.add_hic`.")
    win = get_window(adata)
    idx = resolve_tracks(adata, tracks, sample=sample)
    tab = track_table(adata).iloc[idx]
    arr = adata.obsm[TRACKS_KEY]
    if idx != list(range(arr.shape[1])):
        arr = arr[:, idx, :]
    return xr.DataArray(
        arr,
        dims=("gene", "track", "position"),
        coords={
            "gene": adata.obs_names.to_numpy(),
            "track": tab["name"].to_numpy(),
            "sample": ("track", tab["sample"].to_numpy()),
            "role": ("track", tab["role"].to_numpy()),
            "kind": ("track", tab["kind"].to_numpy()),
            "position": bin_offsets(win),
        },
        name="tracks",
        attrs={"bin_size": win["bin_size"], "width": win["width"], "assembly": str(win.get("assembly", ""))},
    )
