"""Per-gene covariates (``obsm["covariates"]``), concatenated before the model's head."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import numpy as np
import pandas as pd
from anndata import AnnData

from .._core import COVARIATES_KEY, covariate_names, prism_uns
from ._tables import align_to_genes, numeric_values, read_table

logger = logging.getLogger(__name__)


def add_covariates(
    adata: AnnData,
    table: pd.DataFrame | str | os.PathLike,
    *,
    keys: Sequence[str],
    gene_key: str | None = None,
) -> None:
    """Add per-gene covariates (e.g. the mRNA features of the Prism method note).

    Parameters
    ----------
    adata
        Gene-centric AnnData.
    table
        DataFrame or CSV/TSV path keyed by gene id or symbol (see :func:`prismtools.pp.add_expression`).
        Pass ``adata.obs`` to turn obs columns into covariates.
    keys
        Numeric columns to add, in order. A name already present is replaced in place.
    gene_key
        Column with gene keys (default: the index).

    Returns
    -------
    Nothing. Writes ``obsm["covariates"]`` (float32, n_genes x n_covariates; NaN where a gene is missing,
    counted and logged) and ``uns["prism"]["covariates"]`` (names).

    Examples
    --------
    >>> import pandas as pd
    >>> import prismtools as pt
    >>> genes = pd.DataFrame({"chrom": ["chr1", "chr1", "chr2"], "start": [1000, 6000, 2000],
    ...                       "end": [4000, 9000, 5000], "strand": ["+", "-", "+"],
    ...                       "gene_id": ["ENSG01", "ENSG02", "ENSG03"], "gene_name": ["ALPHA", "BETA", "GAMMA"]})
    >>> adata = pt.pp.read_genes(genes)
    >>> features = pd.DataFrame({"UTR5LEN": [120, 80, 300], "CDSLEN": [900, 1500, 600]},
    ...                         index=["ENSG01", "ENSG02", "ENSG03"])
    >>> pt.pp.add_covariates(adata, features, keys=["UTR5LEN", "CDSLEN"])
    >>> adata.obsm["covariates"]
    array([[ 120.,  900.],
           [  80., 1500.],
           [ 300.,  600.]], dtype=float32)
    >>> adata.uns["prism"]["covariates"]
    ['UTR5LEN', 'CDSLEN']
    """
    keys = [keys] if isinstance(keys, str) else list(keys)
    if not keys:
        raise ValueError("keys must name at least one column.")
    df, label = read_table(table, what="covariates")
    missing = [k for k in keys if k not in df.columns]
    if missing:
        raise KeyError(f"{label}: covariate columns {missing} not found; columns are {list(df.columns)[:20]}.")
    keys_index = pd.Index(df[gene_key].astype(str)) if gene_key is not None and gene_key in df.columns else df.index
    converted = {k: numeric_values(df[k], label=label, column=str(k), keys=keys_index).to_numpy() for k in keys}
    if df is adata.obs:
        aligned = pd.DataFrame(converted, index=df.index)
    else:
        df = df.copy()  # not assign(**converted): a headerless table's column names are ints
        for k, v in converted.items():
            df[k] = v
        aligned, _ = align_to_genes(adata, df, gene_key=gene_key, label=label, what="covariates")
    new = np.column_stack([aligned[k].to_numpy(dtype=np.float32) for k in keys])
    n_nan = int(np.isnan(new).any(axis=1).sum())
    if n_nan:
        logger.warning("%s: %d genes lack a value for some of %s (stored as NaN).", label, n_nan, keys)
    names = covariate_names(adata)
    cur = np.asarray(adata.obsm[COVARIATES_KEY], dtype=np.float32) if COVARIATES_KEY in adata.obsm else np.zeros((adata.n_obs, 0), np.float32)
    for j, k in enumerate(keys):
        if k in names:
            cur[:, names.index(k)] = new[:, j]
        else:
            cur = np.concatenate([cur, new[:, j : j + 1]], axis=1)
            names.append(k)
    adata.obsm[COVARIATES_KEY] = cur
    prism_uns(adata)["covariates"] = names
