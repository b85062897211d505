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


#: tokens that mark a missing value in a table (pandas reads most of them as NaN already); anything else that is
#: not a number is an error, never a silent NaN.
MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "-nan", "none", "null", "<na>", "#n/a", "-", ".", "?"})


def numeric_values(series: pd.Series, *, label: str, column: str, keys: pd.Index | None = None) -> pd.Series:
    """A table column as float64, refusing non-numeric text and counting missing and infinite values.

    Missing markers (empty cells, ``NA``, ``n/a``, ``NaN``, ``null``, ``-``, ...) become NaN and are counted in a
    warning with example keys. Any other text (``"abc"``, a decimal comma ``"1,5"``) raises
    :class:`~prismtools.pp.InputFileError` listing examples, because turning it into NaN would silently
    lose data. ``+inf``/``-inf`` become NaN, counted in a warning: no downstream model can use them.
    ``keys`` (default: the series index) name the rows in messages.
    """
    from ._validate import InputFileError

    keys = series.index if keys is None else keys
    vals = pd.to_numeric(series, errors="coerce")
    if not pd.api.types.is_numeric_dtype(vals):  # e.g. all-NA object column
        vals = vals.astype(np.float64)
    vals = vals.astype(np.float64)
    failed = vals.isna().to_numpy() & series.notna().to_numpy()
    if failed.any():
        text = series[failed].astype(str).str.strip()
        is_missing = text.str.lower().isin(MISSING_TOKENS).to_numpy()
        bad = np.flatnonzero(failed)[~is_missing]
        if bad.size:
            ex = ", ".join(f"{keys[i]}={series.iloc[i]!r}" for i in bad[:5])
            comma = any("," in str(series.iloc[i]) for i in bad[:50])
            raise InputFileError(
                f"{label}: {bad.size} values in column {column!r} are not numbers (e.g. {ex}). Fix the file"
                + (" (decimal commas: write 1.5, not 1,5)" if comma else "")
                + "; mark missing values as NA or leave the cell empty."
            )
    n_missing = int(vals.isna().sum())
    if n_missing:
        ex = list(map(str, keys[vals.isna().to_numpy()][:5]))
        logger.warning("%s: %d values marked missing in column %r (e.g. %s); stored as NaN.", label, n_missing,
                       column, ", ".join(ex))
    inf = np.isinf(vals.to_numpy())
    if inf.any():
        ex = ", ".join(f"{keys[i]}={vals.iloc[i]}" for i in np.flatnonzero(inf)[:5])
        logger.warning("%s: %d infinite values in column %r (e.g. %s); treated as missing (NaN).", label,
                       int(inf.sum()), column, ex)
        vals = vals.mask(np.isinf(vals))
    return vals
