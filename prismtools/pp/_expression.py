"""Observed expression per biosample (``X``, ``var``, ``layers["raw"]``)."""

from __future__ import annotations

import logging
import os

import numpy as np
import pandas as pd
from anndata import AnnData

from ._tables import align_to_genes, read_table

logger = logging.getLogger(__name__)

TRANSFORMS = {
    None: lambda x: x,
    "log1p": np.log1p,
    "log10p1": lambda x: np.log10(x + 1.0),
}


def _replace_vars(adata: AnnData, X: np.ndarray, var: pd.DataFrame, layers: dict) -> None:
    """Grow ``adata`` by samples in place (AnnData has no public API for adding variables in place)."""
    keep = {k: getattr(adata, k) for k in ("obs", "uns", "obsm", "obsp")}
    adata._init_as_actual(X=X, obs=keep["obs"], var=var, uns=dict(keep["uns"]), obsm=dict(keep["obsm"]),
                          obsp=dict(keep["obsp"]), layers=layers)


def add_expression(
    adata: AnnData,
    table: pd.DataFrame | pd.Series | str | os.PathLike,
    *,
    sample: str,
    gene_key: str | None = None,
    value: str | None = None,
    transform: str | None = None,
) -> None:
    """Add observed expression of one biosample as a column of ``X``.

    Parameters
    ----------
    adata
        Gene-centric AnnData.
    table
        A DataFrame/Series or a CSV/TSV path, keyed by gene id or gene symbol (whichever matches more genes;
        Ensembl version suffixes are ignored). A headerless two-column ``symbol<TAB>value`` file (such as an
        ENCODE TPM table) is read as such.
    sample
        Biosample name (``var`` row). Created if absent, otherwise its column is overwritten.
    gene_key
        Column with gene keys (default: the index, or the first column of a headerless two-column file).
    value
        Column with the values (default: the only numeric column).
    transform
        ``None``, ``"log1p"`` or ``"log10p1"`` (``log10(x + 1)``, the Prism target). When given, the untransformed
        values are kept in ``layers["raw"]``.

    Returns
    -------
    Nothing. Writes ``X[:, sample]`` (float32; NaN where a gene is absent from the table), ``layers["raw"]``
    (when a transform is applied or already present), and ``var.loc[sample, ["n_measured", "transform"]]``.
    The number of matched genes is logged.
    """
    if transform not in TRANSFORMS:
        raise ValueError(f"transform must be one of {list(TRANSFORMS)}, got {transform!r}.")
    df, label = read_table(table, what="expression")
    if value is None:
        numeric = [c for c in df.columns if c != gene_key and pd.api.types.is_numeric_dtype(df[c])]
        if len(numeric) != 1:
            raise ValueError(f"{label}: pass value= to choose the expression column among {numeric or list(df.columns)}.")
        value = numeric[0]
    if value not in df.columns:
        raise KeyError(f"{label}: value column {value!r} not found; columns are {list(df.columns)[:20]}.")
    aligned, _ = align_to_genes(adata, df, gene_key=gene_key, label=label, what="expression")
    raw = pd.to_numeric(aligned[value], errors="coerce").to_numpy(dtype=np.float64)
    neg = np.nan_to_num(raw, nan=0.0) < 0
    if transform is not None and neg.any():
        raise ValueError(f"{label}: {int(neg.sum())} negative values in {value!r}; {transform} needs values >= 0.")
    vals = TRANSFORMS[transform](raw).astype(np.float32)
    sample = str(sample)
    var = adata.var.copy()
    X = np.asarray(adata.X, dtype=np.float32) if adata.n_vars else np.zeros((adata.n_obs, 0), np.float32)
    layers = {k: np.asarray(v, dtype=np.float32) for k, v in adata.layers.items()}
    if transform is not None and "raw" not in layers:
        layers["raw"] = X.copy()
    if sample not in var.index:
        var = pd.concat([var, pd.DataFrame(index=pd.Index([sample], name=var.index.name or "sample"))])
        X = np.concatenate([X, np.full((adata.n_obs, 1), np.nan, np.float32)], axis=1)
        layers = {k: np.concatenate([v, np.full((adata.n_obs, 1), np.nan, np.float32)], axis=1) for k, v in layers.items()}
    j = var.index.get_loc(sample)
    X[:, j] = vals
    if "raw" in layers:
        layers["raw"][:, j] = raw.astype(np.float32)
    var.loc[sample, "n_measured"] = int(np.isfinite(vals).sum())
    var.loc[sample, "transform"] = str(transform or "")
    var["n_measured"] = var["n_measured"].astype(np.int64)
    _replace_vars(adata, X, var, layers)
    logger.info("%s: expression for sample %r, %d genes measured (%s).", label, sample, int(np.isfinite(vals).sum()),
                transform or "untransformed")
