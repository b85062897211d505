"""Tracks painted from per-gene tables (e.g. ABC's H3K27ac RPM over TSS +/- 500 bp) when no bigWig is at hand."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np
import pandas as pd
from anndata import AnnData

from .._core import get_window
from ._bigwig import _check_role
from ._build import append_track, finish_rows, run_rows
from ._tables import align_to_genes, numeric_values, read_table
from ._validate import as_int
from ._window import window_starts

logger = logging.getLogger(__name__)


@dataclass
class _PaintBlock:
    values: np.ndarray
    starts: np.ndarray
    tss: np.ndarray
    width: int
    bin_size: int
    extent: int
    nan: float | None

    def __call__(self, lo: int, hi: int) -> np.ndarray:
        pos = self.starts[lo:hi, None] + np.arange(self.width)[None, :]
        inside = np.abs(pos - self.tss[lo:hi, None]) < self.extent
        inside |= pos - self.tss[lo:hi, None] == -self.extent
        out = np.where(inside, self.values[lo:hi, None], 0.0).astype(np.float32)
        return finish_rows(out, bin_size=self.bin_size, stat="mean", flip=None, nan=self.nan)


def add_table_track(
    adata: AnnData,
    table: pd.DataFrame | str | os.PathLike,
    *,
    column: str,
    name: str,
    sample: str,
    role: str,
    extent: int = 500,
    gene_key: str | None = None,
    nan: float | None = 0.0,
    store: str | os.PathLike | None = None,
) -> None:
    """Add a track that holds a per-gene value over ``[tss - extent, tss + extent)`` and 0 elsewhere.

    For signal summaries published per gene (such as ABC's ``H3K27ac.RPM.TSS1Kb``, measured over TSS +/- 500 bp)
    when the underlying bigWig is not available. The profile carries no positional detail: it is a flat step.

    Parameters
    ----------
    adata
        Gene-centric AnnData with a window.
    table
        DataFrame or CSV/TSV path keyed by gene id or symbol (see :func:`prismtools.pp.add_expression`).
    column
        Column holding the value.
    name, sample, role
        As in :func:`prismtools.pp.add_track`.
    extent
        Half-width of the painted region in bp.
    gene_key
        Column with gene keys (default: the index).
    nan
        Value for genes missing from the table (counted and logged); ``None`` keeps NaN.
    store
        Zarr store to stream into (see :func:`prismtools.pp.add_track`).

    Returns
    -------
    Nothing. Appends to ``obsm["tracks"]`` and a row ``(name, sample, role, kind="table", source, transform="")``
    to ``uns["prism"]["tracks"]``.

    Examples
    --------
    >>> import pandas as pd
    >>> import prismtools as pt
    >>> genes = pd.DataFrame({"chrom": ["chr1", "chr1", "chr2"], "start": [1000, 6000, 2000],
    ...                       "end": [4000, 9000, 5000], "strand": ["+", "-", "+"],
    ...                       "gene_id": ["ENSG01", "ENSG02", "ENSG03"], "gene_name": ["ALPHA", "BETA", "GAMMA"]})
    >>> adata = pt.pp.read_genes(genes)
    >>> pt.pp.set_window(adata, 2000, bin_size=100)
    >>> rpm = pd.DataFrame({"H3K27ac_RPM": [12.5, 0.0, 3.0]}, index=["ALPHA", "BETA", "GAMMA"])
    >>> pt.pp.add_table_track(adata, rpm, column="H3K27ac_RPM", name="H3K27ac", sample="K562", role="foreground")
    >>> adata.obsm["tracks"].shape
    (3, 1, 20)
    >>> adata.obsm["tracks"][0, 0]  # TSS +/- 500 bp painted with the gene's value
    array([ 0. ,  0. ,  0. ,  0. ,  0. , 12.5, 12.5, 12.5, 12.5, 12.5, 12.5,
           12.5, 12.5, 12.5, 12.5,  0. ,  0. ,  0. ,  0. ,  0. ], dtype=float32)
    >>> adata.uns["prism"]["tracks"][["name", "role", "kind"]]
          name        role   kind
    0  H3K27ac  foreground  table
    """
    _check_role(role, "table")
    win = get_window(adata)
    df, label = read_table(table, what="track table")
    if column not in df.columns:
        raise KeyError(f"{label}: column {column!r} not found; columns are {list(df.columns)[:20]}.")
    keys = pd.Index(df[gene_key].astype(str)) if gene_key is not None and gene_key in df.columns else df.index
    df = df.copy()  # not assign(**{column: ...}): a headerless table's column names are ints
    df[column] = numeric_values(df[column], label=label, column=str(column), keys=keys).to_numpy()
    aligned, _ = align_to_genes(adata, df, gene_key=gene_key, label=label, what="track table")
    vals = aligned[column].to_numpy(dtype=np.float32)
    n_missing = int(np.isnan(vals).sum())
    if n_missing:
        logger.warning("%s: %d genes have no %r value; their track is %s.", label, n_missing, column, nan)
    fn = _PaintBlock(vals, window_starts(adata, win), adata.obs["tss"].to_numpy(np.int64), win["width"],
                     win["bin_size"], as_int(extent, "extent", minimum=1), nan)
    block = run_rows(fn, adata, (win["n_bins"],), np.float32, desc=f"table-{name}")
    row = {"name": str(name), "sample": str(sample), "role": role, "kind": "table",
           "source": f"{label}:{column}", "transform": ""}
    append_track(adata, block, row, store=store, desc=f"add_table_track({name})")
