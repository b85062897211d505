"""Train/validation/test splits of genes (leave-chromosome-out, EPInformer fold tables)."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import numpy as np
import pandas as pd
from anndata import AnnData

from ._tables import align_to_genes, read_table

logger = logging.getLogger(__name__)
SPLITS = ["train", "valid", "test"]
_ALIASES = {"train": "train", "training": "train", "valid": "valid", "val": "valid", "validation": "valid",
            "test": "test", "testing": "test"}


def _as_list(x) -> list[str]:
    if x is None:
        return []
    return [str(x)] if isinstance(x, str) else [str(c) for c in x]


def _store(adata: AnnData, labels: np.ndarray, key_added: str) -> None:
    adata.obs[key_added] = pd.Categorical(labels, categories=SPLITS)
    counts = adata.obs[key_added].value_counts().reindex(SPLITS).fillna(0).astype(int).to_dict()
    n_na = int(adata.obs[key_added].isna().sum())
    logger.info("split %r: %s%s", key_added, counts, f", {n_na} genes unassigned" if n_na else "")


def split_chromosomes(
    adata: AnnData,
    *,
    test: str | Sequence[str],
    valid: str | Sequence[str] = (),
    key_added: str = "split",
) -> None:
    """Leave-chromosome-out split: genes on ``test`` chromosomes are test, on ``valid`` validation, the rest train.

    Parameters
    ----------
    adata
        Gene-centric AnnData with ``obs["chrom"]``.
    test, valid
        Chromosome name(s), e.g. ``test=["chrX", "chr22"], valid="chr3"`` (EPInformer fold 11, the Prism split).
    key_added
        obs column to write.

    Returns
    -------
    Nothing. Writes ``obs[key_added]``, categorical with categories ``train``, ``valid``, ``test``.

    Examples
    --------
    >>> import prismtools as pt
    >>> adata = pt.datasets.toy(n_genes=40)
    >>> pt.pp.split_chromosomes(adata, test="chr4", valid=["chr3"])
    >>> adata.obs.groupby("chrom", observed=True)["split"].first().to_dict()
    {'chr1': 'train', 'chr2': 'train', 'chr3': 'valid', 'chr4': 'test'}
    >>> adata.obs["split"].cat.categories.tolist()
    ['train', 'valid', 'test']
    """
    test, valid = _as_list(test), _as_list(valid)
    if not test:
        raise ValueError("test= must name at least one chromosome.")
    both = set(test) & set(valid)
    if both:
        raise ValueError(f"Chromosomes {sorted(both)} are in both test and valid.")
    chroms = adata.obs["chrom"].astype(str)
    present = set(chroms)
    absent = [c for c in test + valid if c not in present]
    if absent:
        raise ValueError(f"Chromosomes {absent} have no genes; chromosomes present: {sorted(present)[:30]}.")
    labels = np.where(chroms.isin(test), "test", np.where(chroms.isin(valid), "valid", "train"))
    _store(adata, labels, key_added)


def split_folds(
    adata: AnnData,
    table: pd.DataFrame | str | os.PathLike,
    *,
    fold: int | str,
    gene_key: str | None = None,
    key_added: str = "split",
) -> None:
    """Split from an EPInformer-style fold table (columns ``ENSID``, ``chrom``, ``fold_1`` to ``fold_12``, ...).

    Parameters
    ----------
    adata
        Gene-centric AnnData.
    table
        DataFrame or CSV path; one row per gene, a gene key column (``ENSID`` by default when present) and one
        column per fold whose values are ``train`` / ``valid`` / ``test`` (``val``/``validation`` accepted).
    fold
        Fold number (``11`` -> column ``fold_11``) or column name (e.g. ``"fold_enformer"``).
    gene_key
        Column with gene ids (default ``ENSID`` when present, else the index).
    key_added
        obs column to write.

    Returns
    -------
    Nothing. Writes ``obs[key_added]`` (categorical ``train``/``valid``/``test``). Genes absent from the table
    are left unassigned (NaN), counted and logged.

    Examples
    --------
    >>> import pandas as pd
    >>> import prismtools as pt
    >>> genes = pd.DataFrame({"chrom": ["chr1", "chr1", "chr2"], "start": [1000, 6000, 2000],
    ...                       "end": [4000, 9000, 5000], "strand": ["+", "-", "+"],
    ...                       "gene_id": ["ENSG01", "ENSG02", "ENSG03"], "gene_name": ["ALPHA", "BETA", "GAMMA"]})
    >>> adata = pt.pp.read_genes(genes)
    >>> folds = pd.DataFrame({"ENSID": ["ENSG01", "ENSG02", "ENSG03"], "chrom": ["chr1", "chr1", "chr2"],
    ...                       "fold_1": ["train", "valid", "test"], "fold_2": ["test", "train", "valid"]})
    >>> pt.pp.split_folds(adata, folds, fold=2)
    >>> adata.obs["split"].to_dict()
    {'ENSG01': 'test', 'ENSG02': 'train', 'ENSG03': 'valid'}
    """
    df, label = read_table(table, what="fold table")
    col = fold if isinstance(fold, str) else f"fold_{int(fold)}"
    if col not in df.columns:
        folds = [c for c in df.columns if str(c).startswith("fold")]
        raise KeyError(f"{label}: no column {col!r}; fold columns are {folds}.")
    if gene_key is None and "ENSID" in df.columns:
        gene_key = "ENSID"
    aligned, _ = align_to_genes(adata, df, gene_key=gene_key, label=label, what="fold table")
    raw = aligned[col]
    mapped = raw.astype(str).str.strip().str.lower().map(_ALIASES)
    bad = raw.notna() & mapped.isna()
    if bad.any():
        raise ValueError(
            f"{label}: column {col!r} has values {sorted(set(raw[bad].astype(str)))[:5]} that are not "
            "train/valid/test."
        )
    n_na = int(mapped.isna().sum())
    if n_na:
        logger.warning("%s: %d genes are not in the fold table; left unassigned in obs[%r].", label, n_na, key_added)
    _store(adata, mapped.to_numpy(dtype=object), key_added)


def split_blocks(
    adata: AnnData,
    *,
    n_blocks: int = 10,
    test: Sequence[int] = (2, 7),
    valid: Sequence[int] = (4,),
    key_added: str = "split",
) -> None:
    """Within-chromosome split for datasets with too few chromosomes for a leave-chromosome-out split.

    On each chromosome the genes, ordered by TSS, are cut into ``n_blocks`` contiguous blocks of (nearly) equal
    size; blocks listed in ``test`` / ``valid`` go to those splits and the rest to training. Contiguous blocks keep
    neighbouring genes (which share regulatory context) mostly on the same side of the split.

    Parameters
    ----------
    adata
        Gene-centric AnnData with ``obs["chrom"]`` and ``obs["tss"]``.
    n_blocks
        Blocks per chromosome.
    test, valid
        Block numbers (0-based) for the test and validation sets.
    key_added
        obs column to write.

    Returns
    -------
    Nothing. Writes ``obs[key_added]`` (categorical ``train``/``valid``/``test``).

    Examples
    --------
    >>> import prismtools as pt
    >>> adata = pt.datasets.toy(n_genes=40)
    >>> pt.pp.split_blocks(adata, n_blocks=5, test=(2,), valid=(4,))
    >>> adata.obs["split"].value_counts().to_dict()
    {'train': 25, 'test': 8, 'valid': 7}
    >>> chr1 = adata.obs[adata.obs["chrom"] == "chr1"].sort_values("tss")
    >>> chr1["split"].tolist()  # 10 genes on chr1: 5 blocks of 2 consecutive genes
    ['train', 'train', 'train', 'train', 'test', 'test', 'train', 'train', 'valid', 'valid']
    """
    from ._validate import as_int

    n_blocks = as_int(n_blocks, "n_blocks", minimum=1)
    test = {as_int(b, "test block", minimum=0) for b in test}
    valid = {as_int(b, "valid block", minimum=0) for b in valid}
    bad = [b for b in test | valid if not 0 <= b < n_blocks]
    if bad or test & valid:
        raise ValueError(f"test/valid blocks must be distinct numbers in [0, {n_blocks}); got test={sorted(test)}, valid={sorted(valid)}.")
    labels = np.empty(adata.n_obs, dtype=object)
    for _, idx in adata.obs.groupby(adata.obs["chrom"].astype(str), observed=True).indices.items():
        order = idx[np.argsort(adata.obs["tss"].to_numpy()[idx], kind="stable")]
        block = (np.arange(order.size) * n_blocks) // max(order.size, 1)
        labels[order] = np.where(np.isin(block, list(test)), "test", np.where(np.isin(block, list(valid)), "valid", "train"))
    _store(adata, labels, key_added)
