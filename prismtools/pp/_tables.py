"""Reading per-gene tables (paths or DataFrames) and aligning them to ``adata.obs_names``."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
from anndata import AnnData

logger = logging.getLogger(__name__)


def read_table(table: pd.DataFrame | str | os.PathLike, *, what: str = "table") -> tuple[pd.DataFrame, str]:
    """Return ``(DataFrame, label)`` from a DataFrame or a CSV/TSV path (separator sniffed from the suffix)."""
    if isinstance(table, pd.DataFrame):
        return table, f"<{what} DataFrame>"
    if isinstance(table, pd.Series):
        return table.to_frame(), f"<{what} Series>"
    path = Path(table)
    if not path.exists():
        raise FileNotFoundError(f"{what} file not found: {str(path)!r}.")
    name = path.name.lower().removesuffix(".gz")
    sep = "," if name.endswith(".csv") else "\t"
    try:
        df = pd.read_csv(path, sep=sep, comment=None)
    except Exception as err:  # noqa: BLE001
        raise ValueError(f"Could not parse {what} file {str(path)!r} as {'CSV' if sep == ',' else 'TSV'}: {err}") from err
    if df.shape[1] == 1 and sep == "\t":
        df = pd.read_csv(path, sep=r"\s+", engine="python")
    if any(_is_number(c) for c in df.columns):  # no header line: the first row is data
        df = pd.read_csv(path, sep=sep if df.shape[1] > 1 else r"\s+", header=None, engine="python")
        if df.shape[1] == 2:
            df.columns = ["gene", "value"]
            df = df.set_index("gene")
    return df, str(path)


def _is_number(x) -> bool:
    try:
        float(x)
    except (TypeError, ValueError):
        return False
    return True


def _strip_version(ids: pd.Index) -> pd.Index:
    s = ids.astype(str)
    return pd.Index(np.where(s.str.match(r"^ENS[A-Z]*G\d+\.\d+$"), s.str.replace(r"\.\d+$", "", regex=True), s))


def align_to_genes(
    adata: AnnData, df: pd.DataFrame, *, gene_key: str | None, label: str, what: str = "table"
) -> tuple[pd.DataFrame, str]:
    """Reindex ``df`` to ``adata.obs_names`` by gene id or, failing that, gene symbol.

    ``gene_key`` names the column holding the key (default: the table's index). Ids are compared with and
    without Ensembl version suffixes. Whichever of id / ``obs["gene_name"]`` matches more genes is used.
    Duplicated keys keep their first row (counted and logged). Returns the aligned frame (NaN rows for
    unmatched genes) and the key used (``"gene id"`` or ``"gene_name"``).
    """
    if gene_key is not None:
        if gene_key not in df.columns:
            raise KeyError(f"{label}: column {gene_key!r} not found; columns are {list(df.columns)[:20]}.")
        keys = pd.Index(df[gene_key].astype(str))
    else:
        keys = pd.Index(df.index.astype(str))
    keys = _strip_version(keys)
    dup = keys.duplicated()
    if dup.any():
        logger.warning("%s: %d duplicated gene keys; keeping the first occurrence of each.", label, int(dup.sum()))
        df, keys = df.loc[~dup], keys[~dup]
    df = df.set_axis(keys, axis=0)
    by_id = _strip_version(adata.obs_names)
    n_id = int(by_id.isin(keys).sum())
    n_name = 0
    if "gene_name" in adata.obs:
        by_name = pd.Index(adata.obs["gene_name"].astype(str))
        n_name = int(by_name.isin(keys).sum())
    if n_id == 0 and n_name == 0:
        raise ValueError(
            f"{label}: none of its {len(keys)} gene keys (e.g. {list(keys[:3])}) match adata.obs_names "
            f"(e.g. {list(adata.obs_names[:3])}) or obs['gene_name']. Pass gene_key= to name the column with gene ids "
            "or symbols."
        )
    if n_id >= n_name:
        out, used = df.reindex(by_id), "gene id"
    else:
        out, used = df.reindex(by_name), "gene_name"
    out.index = adata.obs_names
    n = max(n_id, n_name)
    logger.info(
        "%s: matched %d of %d genes by %s (%d table rows unused).", label, n, adata.n_obs, used, len(keys) - n
    )
    return out, used
