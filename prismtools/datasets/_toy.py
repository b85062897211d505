"""A tiny in-memory dataset with a planted signal, for tests and quick experiments."""

from __future__ import annotations

import numpy as np
import pandas as pd
from anndata import AnnData

from .._core import TRACK_COLUMNS, prism_uns, set_track_table


def toy(
    *,
    n_genes: int = 96,
    width: int = 128,
    n_tracks: int = 3,
    n_covariates: int = 2,
    sample: str = "toy",
    seed: int = 0,
) -> AnnData:
    """A small synthetic gene-centric AnnData that follows the prismtools data model.

    Expression depends on a promoter motif (``TATA`` near the TSS), on the first (foreground) track near
    the TSS and on the first covariate, plus a background track that shifts expression through a hidden
    per-chromosome state. Meant for tests and quick demos, not for conclusions.

    Parameters
    ----------
    n_genes, width, n_tracks, n_covariates
        Sizes. ``n_tracks >= 2``.
    sample
        Name of the single biosample (``var`` row).
    seed
        Seed of the NumPy generator.

    Returns
    -------
    AnnData with ``X``, ``obs`` (gene coordinates and ``split``), ``obsm["sequence"]``,
    ``obsm["tracks"]``, ``obsm["covariates"]`` and ``uns["prism"]``.

    Examples
    --------
    >>> import prismtools as pt
    >>> adata = pt.datasets.toy(n_genes=16, width=64)
    >>> adata.shape, adata.obsm["tracks"].shape, adata.obsm["sequence"].shape
    ((16, 1), (16, 3, 64), (16, 64))
    """
    if n_tracks < 2:
        raise ValueError("toy() needs n_tracks >= 2 (one foreground, one background).")
    rng = np.random.default_rng(seed)
    chroms = np.array(["chr1", "chr2", "chr3", "chr4"])[rng.integers(0, 4, n_genes)]
    state = {"chr1": 0.5, "chr2": -0.5, "chr3": 0.0, "chr4": 1.0}
    c = np.array([state[ch] for ch in chroms], dtype=np.float32)
    tss = rng.integers(10_000, 1_000_000, n_genes)
    strand = np.where(rng.random(n_genes) < 0.5, "+", "-")
    seq = rng.integers(0, 4, (n_genes, width), dtype=np.uint8)
    has_motif = rng.random(n_genes) < 0.5
    mid = width // 2
    motif = np.array([3, 0, 3, 0], dtype=np.uint8)  # TATA
    seq[has_motif, mid - 8 : mid - 4] = motif
    tracks = np.abs(rng.normal(0, 0.3, (n_genes, n_tracks, width))).astype(np.float32)
    peak = rng.gamma(2.0, 1.0, n_genes).astype(np.float32)
    prof = np.exp(-0.5 * ((np.arange(width) - mid) / (width / 16)) ** 2).astype(np.float32)
    tracks[:, 0, :] += peak[:, None] * prof[None, :]
    tracks[:, 1, :] += (1.0 + c)[:, None]
    cov = rng.normal(0, 1, (n_genes, n_covariates)).astype(np.float32)
    y = 1.0 * has_motif + 0.8 * peak + 0.5 * c + (0.3 * cov[:, 0] if n_covariates else 0.0)
    y = (y + rng.normal(0, 0.1, n_genes)).astype(np.float32)
    ids = [f"GENE{i:05d}" for i in range(n_genes)]
    obs = pd.DataFrame(
        {
            "chrom": chroms,
            "start": np.where(strand == "+", tss, tss - 5_000),
            "end": np.where(strand == "+", tss + 5_000, tss + 1),
            "strand": strand,
            "tss": tss,
            "gene_name": [f"G{i}" for i in range(n_genes)],
        },
        index=pd.Index(ids, name="gene_id"),
    )
    split = np.where(obs["chrom"] == "chr3", "test", np.where(obs["chrom"] == "chr4", "valid", "train"))
    obs["split"] = pd.Categorical(split, categories=["train", "valid", "test"])
    adata = AnnData(X=y[:, None], obs=obs, var=pd.DataFrame(index=pd.Index([sample], name="sample")))
    adata.obsm["sequence"] = seq
    adata.obsm["tracks"] = tracks
    adata.obsm["covariates"] = cov
    uns = prism_uns(adata)
    uns["window"] = {"width": width, "bin_size": 1, "assembly": "toy", "orientation": "reference"}
    names = ["H3K27ac", "DNase"] + [f"track{i}" for i in range(2, n_tracks)]
    roles = ["foreground"] + ["background"] * (n_tracks - 1)
    tab = pd.DataFrame(
        {"name": names, "sample": sample, "role": roles, "kind": "table", "source": "toy", "transform": ""}
    )[TRACK_COLUMNS]
    set_track_table(adata, tab)
    uns["covariates"] = [f"cov{i}" for i in range(n_covariates)]
    adata.obs["toy_state"] = c
    adata.obs["toy_motif"] = has_motif
    return adata
