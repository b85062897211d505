"""The window around each TSS that sequence and tracks are extracted from."""

from __future__ import annotations

import logging

import numpy as np
from anndata import AnnData

from .._core import TRACKS_KEY, SEQUENCE_KEY, get_window, prism_uns
from ._validate import as_int

logger = logging.getLogger(__name__)


def set_window(adata: AnnData, width: int = 2000, *, bin_size: int = 1, assembly: str | None = None) -> None:
    """Set the window ``[tss - width/2, tss + width/2)`` extracted around every TSS.

    Parameters
    ----------
    adata
        Gene-centric AnnData (from :func:`prismtools.pp.read_genes`).
    width
        Window width in bp (a positive even integer; ``2000.0`` is accepted, ``2000.7`` and ``"2kb"`` are errors,
        never truncated). The TSS base sits at index ``width // 2`` of ``obsm["sequence"]``.
    bin_size
        Track resolution in bp; tracks have ``width // bin_size`` bins. ``width / 2`` must be a multiple of
        ``bin_size`` so the TSS starts a bin.
    assembly
        Genome assembly label (e.g. ``"hg38"``), recorded for provenance.

    Returns
    -------
    Nothing; sets ``adata.uns["prism"]["window"] = {"width", "bin_size", "assembly", "orientation"}``.
    Changing the window of an AnnData that already holds sequence or tracks is an error (they would no
    longer match); crop with :func:`prismtools.pp.crop_window` instead.

    Examples
    --------
    >>> import pandas as pd
    >>> import prismtools as pt
    >>> genes = pd.DataFrame({"chrom": ["chr1", "chr1", "chr2"], "start": [1000, 6000, 2000],
    ...                       "end": [4000, 9000, 5000], "strand": ["+", "-", "+"],
    ...                       "gene_id": ["ENSG01", "ENSG02", "ENSG03"], "gene_name": ["ALPHA", "BETA", "GAMMA"]})
    >>> adata = pt.pp.read_genes(genes)
    >>> pt.pp.set_window(adata, 2000, bin_size=100, assembly="hg38")
    >>> adata.uns["prism"]["window"]
    {'width': 2000, 'bin_size': 100, 'assembly': 'hg38', 'orientation': 'reference'}

    Tracks added afterwards have ``2000 // 100 = 20`` bins, the TSS starting bin 10.
    """
    width = as_int(width, "width", minimum=2, even=True)
    bin_size = as_int(bin_size, "bin_size", minimum=1)
    if (width // 2) % bin_size:
        raise ValueError(
            f"bin_size={bin_size} must divide width/2={width // 2} so that the TSS starts a bin "
            f"(e.g. bin_size in {[b for b in (1, 2, 5, 10, 20, 50, 100, 125, 200, 250, 500, 1000) if (width // 2) % b == 0]})."
        )
    old = get_window(adata, required=False)
    if old is not None and (old["width"], old["bin_size"]) != (width, bin_size):
        present = [k for k in (SEQUENCE_KEY, TRACKS_KEY) if k in adata.obsm]
        if present:
            raise ValueError(
                f"adata already holds obsm {present} built for width={old['width']}, bin_size={old['bin_size']}; "
                "use pt.pp.crop_window(adata, width=...) to shrink it, or start from the genes again."
            )
    prism_uns(adata)["window"] = {
        "width": width,
        "bin_size": bin_size,
        "assembly": str(assembly or (old or {}).get("assembly", "")),
        "orientation": (old or {}).get("orientation", "reference"),
    }


def window_starts(adata: AnnData, win: dict | None = None) -> np.ndarray:
    """0-based start of each gene's window (int64). In ``transcript`` orientation, minus-strand windows are
    shifted by one base so that, once reversed, the TSS is still at index ``width // 2``."""
    win = win or get_window(adata)
    tss = adata.obs["tss"].to_numpy(dtype=np.int64)
    starts = tss - win["width"] // 2
    if win.get("orientation") == "transcript":
        starts = starts + (adata.obs["strand"].astype(str).to_numpy() == "-")
    return starts


def minus_strand(adata: AnnData) -> np.ndarray:
    return adata.obs["strand"].astype(str).to_numpy() == "-"


def crop_window(adata: AnnData, width: int, *, copy: bool = False) -> AnnData | None:
    """Keep the central ``width`` bp of the stored sequence and tracks (lazy for dask-backed arrays).

    Parameters
    ----------
    adata
        AnnData with a window set.
    width
        New width; even, at most the current width, and ``width/2`` a multiple of the bin size.
    copy
        Return a cropped copy instead of modifying ``adata``.

    Returns
    -------
    ``None`` (or the copy); updates ``obsm["sequence"]``, ``obsm["tracks"]`` and ``uns["prism"]["window"]``.

    Examples
    --------
    >>> import prismtools as pt
    >>> adata = pt.datasets.toy(n_genes=8, width=64)
    >>> adata.obsm["sequence"].shape, adata.obsm["tracks"].shape
    ((8, 64), (8, 3, 64))
    >>> small = pt.pp.crop_window(adata, 32, copy=True)
    >>> small.obsm["sequence"].shape, small.obsm["tracks"].shape, small.uns["prism"]["window"]["width"]
    ((8, 32), (8, 3, 32), 32)
    >>> (small.obsm["sequence"] == adata.obsm["sequence"][:, 16:48]).all()  # the central 32 bp
    np.True_
    >>> pt.pp.crop_window(adata, 32)  # in place
    >>> adata.obsm["tracks"].shape
    (8, 3, 32)
    """
    adata = adata.copy() if copy else adata
    win = get_window(adata)
    width = as_int(width, "width", minimum=2, even=True)
    if width > win["width"] or width <= 0 or width % 2 or (width // 2) % win["bin_size"]:
        raise ValueError(
            f"Cannot crop width {win['width']} (bin_size {win['bin_size']}) to {width}: need an even width <= "
            f"{win['width']} with width/2 a multiple of the bin size."
        )
    off = (win["width"] - width) // 2
    if SEQUENCE_KEY in adata.obsm:
        adata.obsm[SEQUENCE_KEY] = adata.obsm[SEQUENCE_KEY][:, off : off + width]
    if TRACKS_KEY in adata.obsm:
        b0 = off // win["bin_size"]
        adata.obsm[TRACKS_KEY] = adata.obsm[TRACKS_KEY][:, :, b0 : b0 + width // win["bin_size"]]
    prism_uns(adata)["window"] = {**{k: v for k, v in win.items() if k != "n_bins"}, "width": width}
    return adata if copy else None
