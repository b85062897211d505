"""Observed expression per biosample (``X``, ``var``, ``layers["raw"]``), from tables or from (pseudobulked) AnnData."""

from __future__ import annotations

import logging
import os

import numpy as np
import pandas as pd
from anndata import AnnData

from ._tables import _strip_version, align_to_genes, numeric_values, read_table

logger = logging.getLogger(__name__)

TRANSFORMS = {
    None: lambda x: x,
    "log1p": np.log1p,
    "log10p1": lambda x: np.log10(x + 1.0),
}
NORMALIZE = (None, "cpm")
PSEUDOBULK_FUNCS = ("sum", "mean")


def _replace_vars(adata: AnnData, X: np.ndarray, var: pd.DataFrame, layers: dict) -> None:
    """Grow ``adata`` by samples in place: re-run the public constructor on the same object with the new ``X``,
    ``var`` and ``layers`` and everything gene-wise (``obs``, ``obsm``, ``obsp``) and ``uns`` kept."""
    keep = {k: getattr(adata, k) for k in ("obs", "uns", "obsm", "obsp")}
    AnnData.__init__(adata, X=X, obs=keep["obs"].copy(), var=var, uns=dict(keep["uns"]), obsm=dict(keep["obsm"]),
                     obsp=dict(keep["obsp"]), layers=layers)


def pseudobulk(
    cells: AnnData,
    groupby: str,
    *,
    layer: str | None = None,
    use_raw: bool | None = None,
    func: str = "sum",
    min_cells: int = 1,
) -> AnnData:
    """Aggregate a cells x genes AnnData into groups x genes (pseudobulk), with :func:`scanpy.get.aggregate`.

    Parameters
    ----------
    cells
        Single-cell AnnData, cells as ``obs`` and genes as ``var``.
    groupby
        ``obs`` column with the group (biosample) of each cell, e.g. ``"bulk_labels"`` or ``"cell_type"``.
    layer
        Aggregate this layer (e.g. ``"counts"``) instead of ``X``. Raw counts are the right input for ``"sum"``.
    use_raw
        Aggregate ``cells.raw``. ``None`` (scanpy's convention): use ``.raw`` when it exists and no ``layer`` is
        given (``X`` is then often scaled, with negative values).
    func
        ``"sum"`` (pseudobulk counts; normalise afterwards, e.g. ``add_expression(..., normalize="cpm")``) or
        ``"mean"``.
    min_cells
        Drop groups with fewer cells (counted and logged).

    Returns
    -------
    A new AnnData, groups x genes: ``X`` (float64, dense) the aggregated values, ``obs`` indexed by group with
    ``n_cells``, ``var`` a copy of the genes' annotation (so ``gene_key=`` can name a ``var`` column), and
    ``uns["pseudobulk"] = {"groupby", "func", "layer", "use_raw"}``. Negative input values (scaled data) are an
    error.

    Examples
    --------
    Four cells of two types, summed per type:

    >>> import anndata as ad
    >>> import numpy as np
    >>> import pandas as pd
    >>> import prismtools as pt
    >>> cells = ad.AnnData(
    ...     np.array([[1, 0, 3], [2, 1, 0], [0, 4, 1], [5, 0, 0]], dtype=np.float32),
    ...     obs=pd.DataFrame({"cell_type": ["B", "B", "T", "T"]}, index=["c1", "c2", "c3", "c4"]),
    ...     var=pd.DataFrame(index=["ALPHA", "BETA", "GAMMA"]),
    ... )
    >>> bulk = pt.pp.pseudobulk(cells, "cell_type")
    >>> bulk
    AnnData object with n_obs × n_vars = 2 × 3
        obs: 'n_cells'
        uns: 'pseudobulk'
    >>> bulk.obs["n_cells"].to_dict()
    {'B': 2, 'T': 2}
    >>> bulk.X
    array([[3., 1., 3.],
           [5., 4., 1.]])

    The result feeds :func:`prismtools.pp.add_expression`, one biosample per group.
    """
    import scanpy as sc

    from ._validate import as_int

    if func not in PSEUDOBULK_FUNCS:
        raise ValueError(f"func must be one of {PSEUDOBULK_FUNCS}; got {func!r}.")
    min_cells = as_int(min_cells, "min_cells", minimum=1)
    if groupby not in cells.obs:
        raise KeyError(f"groupby={groupby!r} is not a column of cells.obs; columns are {list(cells.obs.columns)[:20]}.")
    if use_raw is None:
        use_raw = layer is None and cells.raw is not None
    if use_raw and layer is not None:
        raise ValueError("Pass either layer= or use_raw=True, not both.")
    if use_raw:
        if cells.raw is None:
            raise ValueError("use_raw=True but cells.raw is None.")
        src = cells.raw.to_adata()
        src.obs = cells.obs[[groupby]].copy()
        what = "cells.raw"
    else:
        src = AnnData(X=cells.layers[layer] if layer is not None else cells.X, obs=cells.obs[[groupby]].copy(),
                      var=cells.var.copy())
        what = f"cells.layers[{layer!r}]" if layer is not None else "cells.X"
    data = src.X
    lo = data.min() if data.shape[0] and data.shape[1] else 0
    if float(lo) < 0:
        raise ValueError(
            f"{what} holds negative values (min {float(lo):.3g}: scaled or centred data?); a pseudobulk needs "
            "non-negative expression, ideally counts. Pass layer='counts' (or use_raw=True)."
        )
    labels = src.obs[groupby]
    if labels.isna().any():
        logger.warning("pseudobulk: %d cells have no %r label; left out.", int(labels.isna().sum()), groupby)
        src = src[labels.notna().to_numpy()].copy()
    agg = sc.get.aggregate(src, by=groupby, func=func)
    counts = src.obs[groupby].astype(str).value_counts()
    X = agg.layers[func]
    X = np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=np.float64)
    obs = pd.DataFrame(index=pd.Index(agg.obs_names.astype(str), name=groupby))
    obs["n_cells"] = counts.reindex(obs.index).fillna(0).astype(np.int64).to_numpy()
    out = AnnData(X=X, obs=obs, var=agg.var.copy())
    small = out.obs["n_cells"].to_numpy() < min_cells
    if small.any():
        logger.warning("pseudobulk: dropping %d groups with fewer than %d cells (%s).", int(small.sum()), min_cells,
                       ", ".join(out.obs_names[small][:5]))
        out = out[~small].copy()
    out.uns["pseudobulk"] = {"groupby": str(groupby), "func": func, "layer": layer or "", "use_raw": bool(use_raw)}
    logger.info("pseudobulk: %d groups of %r from %d cells, %d genes (%s of %s).", out.n_obs, groupby,
                int(out.obs["n_cells"].sum()), out.n_vars, func, what)
    return out


def _anndata_columns(
    adata: AnnData, source: AnnData, *, gene_key: str | None, layer: str | None, normalize: str | None
) -> tuple[pd.DataFrame, str]:
    """Genes x biosamples DataFrame aligned to ``adata`` from a biosamples x genes AnnData (after ``normalize``)."""
    label = "<AnnData>"
    if gene_key is None:
        keys = pd.Index(source.var_names.astype(str))
    elif gene_key in source.var:
        keys = pd.Index(source.var[gene_key].astype(str))
    else:
        raise KeyError(f"gene_key={gene_key!r} is neither None (var_names) nor a column of the AnnData's var "
                       f"({list(source.var.columns)[:20]}).")
    X = source.layers[layer] if layer is not None else source.X
    X = np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=np.float64)
    bad = ~np.isfinite(X)
    if bad.any():
        logger.warning("%s: %d non-finite expression values (NaN/inf); treated as missing.", label, int(bad.sum()))
        X = np.where(bad, np.nan, X)
    if normalize == "cpm":
        if np.nanmin(X) < 0:
            raise ValueError(f"{label}: negative values cannot be normalised to counts per million; pass normalize=None.")
        tot = np.nansum(X, axis=1, keepdims=True)
        empty = tot[:, 0] <= 0
        if empty.any():
            raise ValueError(f"{label}: biosamples {list(source.obs_names[empty][:5])} have no counts; drop them first.")
        X = X / tot * 1e6
    df = pd.DataFrame(X.T, index=keys, columns=source.obs_names.astype(str))
    aligned, used = align_to_genes(adata, df, gene_key=None, label=label, what="expression")
    uniq = _strip_version(pd.Index(dict.fromkeys(df.index)))
    n_keys = len(uniq)
    found = uniq.isin(_strip_version(adata.obs_names))
    if "gene_name" in adata.obs:
        found |= uniq.isin(adata.obs["gene_name"].astype(str))
    matched = int(found.sum())
    if matched < n_keys:
        logger.warning("%s: %d of %d genes of the AnnData did not match adata's genes (by %s); they are not used.",
                       label, n_keys - matched, n_keys, used)
    return aligned, label


def add_expression(
    adata: AnnData,
    table: pd.DataFrame | pd.Series | str | os.PathLike | AnnData,
    *,
    sample: str | None = None,
    gene_key: str | None = None,
    value: str | None = None,
    transform: str | None = "auto",
    groupby: str | None = None,
    layer: str | None = None,
    normalize: str | None = "auto",
) -> None:
    """Add observed expression as columns of ``X`` (one per biosample).

    Parameters
    ----------
    adata
        Gene-centric AnnData.
    table
        The expression source (positional; named ``table`` for compatibility), one of:

        - a DataFrame/Series or a CSV/TSV path with one biosample's values, keyed by gene id or gene symbol
          (whichever matches more genes; Ensembl version suffixes are ignored). A headerless two-column
          ``symbol<TAB>value`` file (such as an ENCODE TPM table) is read as such;
        - an AnnData with biosamples as ``obs`` and genes as ``var`` (e.g. from :func:`prismtools.pp.pseudobulk`):
          every ``obs`` row becomes a biosample (``var`` entry) named by its ``obs_name``;
        - a cells x genes AnnData with ``groupby=``: it is pseudobulked first
          (``pseudobulk(table, groupby, layer=layer)``, summed), one biosample per group.
    sample
        Biosample name (``var`` row) for a table source; created if absent, otherwise its column is overwritten.
        For an AnnData source it may only rename a single biosample.
    gene_key
        Tables: the column with gene keys (default: the index of a DataFrame; for a file, its first column when that
        holds text).
        AnnData: a ``var`` column with the gene keys (default: ``var_names``), e.g. ``"gene_ids"`` for Ensembl ids
        when ``var_names`` are symbols. Keys are matched to ``obs_names`` or ``obs["gene_name"]``, whichever
        matches more; the number matched is logged and unmatched AnnData genes are counted in a warning.
    value
        Tables: the column with the values (default: the only numeric column, or the only non-key column).
    transform
        ``None``, ``"log1p"`` or ``"log10p1"`` (``log10(x + 1)``, the Prism target). When one is applied, the
        untransformed (but normalised) values are kept in ``layers["raw"]``. ``"auto"`` (default): ``"log10p1"`` for
        an AnnData source (so pseudobulk counts become ``log10(CPM + 1)``), ``None`` for tables.
    groupby
        For a cells x genes AnnData: the ``obs`` column grouping cells into biosamples.
    layer
        For an AnnData source: use this layer instead of ``X`` (with ``groupby``: the layer to pseudobulk).
    normalize
        ``"cpm"``: scale each biosample to counts per million (over all of the source's genes, matched or not)
        before ``transform``; ``None``: use values as given. ``"auto"`` (default): ``"cpm"`` for an AnnData
        source (pseudobulk sums are library-size dependent), ``None`` for tables (TPM and the like).

    Returns
    -------
    Nothing. Writes ``X[:, sample]`` (float32; NaN where a gene is absent from the source), ``layers["raw"]``
    (when a transform is applied or already present), and ``var.loc[sample, ["n_measured", "transform"]]``
    (``transform`` records normalisation and transform, e.g. ``"cpm,log10p1"``).

    Values are never silently altered: in tables, missing markers (``NA``, ``n/a``, empty, ...) become NaN
    (counted in a warning with examples); other non-numeric text (``"abc"``, decimal commas ``"1,5"``) raises
    :class:`~prismtools.pp.InputFileError` naming the file and examples; ``+inf``/``-inf`` are treated as
    missing (counted in a warning); negative values with a log transform are an error.

    Examples
    --------
    >>> import pandas as pd
    >>> import prismtools as pt
    >>> genes = pd.DataFrame({"chrom": ["chr1", "chr1", "chr2"], "start": [1000, 6000, 2000],
    ...                       "end": [4000, 9000, 5000], "strand": ["+", "-", "+"],
    ...                       "gene_id": ["ENSG01", "ENSG02", "ENSG03"], "gene_name": ["ALPHA", "BETA", "GAMMA"]})
    >>> adata = pt.pp.read_genes(genes)

    One biosample from a table keyed by gene id or by symbol (whichever matches more), as ``log10(x + 1)``:

    >>> tpm = pd.DataFrame({"TPM": [9.0, 0.0, 99.0]}, index=["ALPHA", "BETA", "GAMMA"])
    >>> pt.pp.add_expression(adata, tpm, sample="K562", transform="log10p1")
    >>> adata
    AnnData object with n_obs × n_vars = 3 × 1
        obs: 'chrom', 'start', 'end', 'strand', 'tss', 'gene_name'
        var: 'n_measured', 'transform'
        uns: 'prism'
        layers: 'raw'
    >>> adata.X[:, 0].round(3).tolist(), adata.layers["raw"][:, 0].tolist()
    ([1.0, 0.0, 2.0], [9.0, 0.0, 99.0])
    >>> adata.var
            n_measured transform
    sample
    K562             3   log10p1

    Several biosamples at once from an AnnData with biosamples as ``obs`` (here pseudobulk counts of
    single cells, normalised to counts per million before the transform):

    >>> import anndata as ad
    >>> import numpy as np
    >>> cells = ad.AnnData(np.array([[1, 0, 3], [2, 1, 0], [0, 4, 1]], dtype=np.float32),
    ...                    obs=pd.DataFrame({"cell_type": ["B", "B", "T"]}, index=["c1", "c2", "c3"]),
    ...                    var=pd.DataFrame(index=["ALPHA", "BETA", "GAMMA"]))
    >>> pt.pp.add_expression(adata, pt.pp.pseudobulk(cells, "cell_type"), normalize="cpm")
    >>> adata.var_names.tolist()
    ['K562', 'B', 'T']
    """
    if transform == "auto":
        transform = "log10p1" if isinstance(table, AnnData) else None
    if transform not in TRANSFORMS:
        raise ValueError(f"transform must be one of {list(TRANSFORMS)}, got {transform!r}.")
    if normalize not in NORMALIZE + ("auto",):
        raise ValueError(f"normalize must be one of {list(NORMALIZE) + ['auto']}, got {normalize!r}.")
    if isinstance(table, AnnData):
        source = table
        if groupby is not None:
            source = pseudobulk(table, groupby, layer=layer)
            layer = None
        elif sample is not None and source.n_obs > 1:
            raise ValueError(
                f"An AnnData source adds one biosample per obs row ({source.n_obs} here), so sample= cannot name them. "
                "If its rows are cells, pass groupby= (an obs column) to pseudobulk them first."
            )
        norm = "cpm" if normalize == "auto" else normalize
        aligned, label = _anndata_columns(adata, source, gene_key=gene_key, layer=layer, normalize=norm)
        if sample is not None:
            aligned.columns = [str(sample)]
        columns = {str(c): aligned[c].to_numpy(dtype=np.float64) for c in aligned.columns}
    else:
        if groupby is not None or layer is not None:
            raise ValueError("groupby= and layer= apply to AnnData sources only.")
        if sample is None:
            raise TypeError("add_expression() needs sample= (the biosample name) for a table source.")
        norm = None if normalize == "auto" else normalize
        df, label = read_table(table, what="expression")
        if gene_key is None and isinstance(df.index, pd.RangeIndex) and df.shape[1] > 1 and not (
                pd.api.types.is_numeric_dtype(df.iloc[:, 0])):
            gene_key = str(df.columns[0])  # a headered file: its first (text) column holds the gene keys
            logger.info("%s: gene keys from its first column %r.", label, gene_key)
        if value is None:
            others = [c for c in df.columns if c != gene_key]
            numeric = [c for c in others if pd.api.types.is_numeric_dtype(df[c])]
            if len(numeric) == 1 or (not numeric and len(others) == 1):
                value = (numeric or others)[0]
            else:
                raise ValueError(f"{label}: pass value= to choose the expression column among {numeric or others}.")
        if value not in df.columns:
            raise KeyError(f"{label}: value column {value!r} not found; columns are {list(df.columns)[:20]}.")
        keys = pd.Index(df[gene_key].astype(str)) if gene_key is not None and gene_key in df.columns else df.index
        df = df.copy()  # not assign(**{value: ...}): a Series' or a headerless table's column name may be an int
        df[value] = numeric_values(df[value], label=label, column=str(value), keys=keys).to_numpy()
        aligned, _ = align_to_genes(adata, df, gene_key=gene_key, label=label, what="expression")
        raw = aligned[value].to_numpy(dtype=np.float64)
        if norm == "cpm":
            tot = np.nansum(pd.to_numeric(df[value], errors="coerce"))
            if not tot > 0:
                raise ValueError(f"{label}: the values sum to {tot}; cannot normalise to counts per million.")
            raw = raw / tot * 1e6
        columns = {str(sample): raw}
    _write_columns(adata, columns, transform=transform, normalize=norm, label=label)


def _write_columns(adata: AnnData, columns: dict[str, np.ndarray], *, transform: str | None, normalize: str | None,
                   label: str) -> None:
    var = adata.var.copy()
    X = np.asarray(adata.X, dtype=np.float32) if adata.n_vars else np.zeros((adata.n_obs, 0), np.float32)
    layers = {k: np.asarray(v, dtype=np.float32) for k, v in adata.layers.items()}
    if transform is not None and "raw" not in layers:
        layers["raw"] = X.copy()
    for sample, raw in columns.items():
        neg = np.nan_to_num(raw, nan=0.0) < 0
        if transform is not None and neg.any():
            raise ValueError(f"{label}: {int(neg.sum())} negative values for {sample!r}; {transform} needs values >= 0.")
        vals = TRANSFORMS[transform](raw).astype(np.float32)
        if sample not in var.index:
            var = pd.concat([var, pd.DataFrame(index=pd.Index([sample], name=var.index.name or "sample"))])
            X = np.concatenate([X, np.full((adata.n_obs, 1), np.nan, np.float32)], axis=1)
            layers = {k: np.concatenate([v, np.full((adata.n_obs, 1), np.nan, np.float32)], axis=1)
                      for k, v in layers.items()}
        j = var.index.get_loc(sample)
        X[:, j] = vals
        if "raw" in layers:
            layers["raw"][:, j] = raw.astype(np.float32)
        var.loc[sample, "n_measured"] = int(np.isfinite(vals).sum())
        var.loc[sample, "transform"] = ",".join(t for t in (normalize, transform) if t)
        logger.info("%s: expression for sample %r, %d genes measured (%s).", label, sample,
                    int(np.isfinite(vals).sum()), ",".join(t for t in (normalize, transform) if t) or "untransformed")
    var["n_measured"] = var["n_measured"].astype(np.int64)
    _replace_vars(adata, X, var, layers)
