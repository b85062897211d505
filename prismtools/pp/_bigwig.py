"""Signal tracks from bigWig files, via pyBigWig, per base or binned."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from anndata import AnnData

from .._core import KINDS, ROLES, get_window
from ._assembly import check_assembly
from ._build import append_track, block_stats, finish_rows, in_row_batches, run_rows
from ._chroms import gene_chroms
from ._validate import InputFileError, reading
from ._window import minus_strand, window_starts

logger = logging.getLogger(__name__)
STATS = ("mean", "max", "min", "sum")


@dataclass
class _BigWigBlock:
    path: str
    chroms: np.ndarray
    starts: np.ndarray
    flip: np.ndarray
    width: int
    bin_size: int
    stat: str
    nan: float | None
    token: str | None = None

    def __call__(self, lo: int, hi: int) -> np.ndarray:
        return in_row_batches(self._rows, lo, hi, self.width)  # bounded memory for wide windows

    def _rows(self, lo: int, hi: int) -> np.ndarray:
        import pyBigWig

        # Nearby windows on a chromosome are read with one bw.values() call over their joint span and then
        # sliced: a call costs ~0.1 ms however short the range, plus ~1 ns per base, so one read per cluster
        # of windows (gaps < max_gap bp, span <= max_span bp) beats one read per gene. Same values as per-gene
        # reads (each base is read from the same bigWig entries).
        max_gap, max_span = 50_000, 4_000_000
        width = self.width
        vals = np.full((hi - lo, width), np.nan, dtype=np.float32)
        chroms = self.chroms[lo:hi]
        starts = np.asarray(self.starts[lo:hi], dtype=np.int64)
        with reading(self.path, "the bigWig header"):
            bw = pyBigWig.open(self.path)
        try:
            sizes = bw.chroms()
            for c in dict.fromkeys(x for x in chroms if x is not None):
                rows = np.flatnonzero(chroms == c)
                s = starts[rows]
                cs, ce = np.maximum(0, s), np.minimum(sizes[c], s + width)
                keep = ce > cs
                order = np.argsort(cs[keep], kind="stable")
                rows, s, cs, ce = (x[keep][order].tolist() for x in (rows, s, cs, ce))
                i, n = 0, len(rows)
                while i < n:
                    a, b, j = cs[i], ce[i], i + 1
                    while j < n and cs[j] <= b + max_gap and max(b, ce[j]) - a <= max_span:
                        b = max(b, ce[j])
                        j += 1
                    with reading(self.path, f"bigWig values of {c}:{a}-{b}"):
                        span = bw.values(c, a, b, numpy=True)
                    for k in range(i, j):
                        vals[rows[k], cs[k] - s[k] : ce[k] - s[k]] = span[cs[k] - a : ce[k] - a]
                    i = j
        finally:
            bw.close()
        return finish_rows(vals, bin_size=self.bin_size, stat=self.stat, flip=self.flip[lo:hi], nan=self.nan,
                           token=self.token, present=np.array([x is not None for x in chroms], dtype=bool))


def open_bigwig(path: str | os.PathLike):
    import pyBigWig

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"bigWig file not found: {str(p)!r}.")
    try:
        bw = pyBigWig.open(str(p))
    except RuntimeError as err:
        raise InputFileError(f"{str(p)!r} could not be opened as a bigWig ({err}); is it truncated or not a bigWig?") from err
    if bw is None or not bw.isBigWig():
        raise InputFileError(f"{str(p)!r} is not a bigWig file (bigBed and bedGraph are not supported; convert with bedGraphToBigWig).")
    return bw


def _check_role(role: str, kind: str = "bigwig") -> None:
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES} (foreground: marks active elements, e.g. H3K27ac; "
                         f"background: broad chromatin state, e.g. DNase, Hi-C); got {role!r}.")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}; got {kind!r}.")


def add_track(
    adata: AnnData,
    bigwig: str | os.PathLike,
    *,
    name: str,
    sample: str,
    role: str,
    stat: str = "mean",
    nan: float | None = 0.0,
    store: str | os.PathLike | None = None,
) -> None:
    """Extract a bigWig signal over every gene's window (per base, or per bin when the window's ``bin_size > 1``).

    Parameters
    ----------
    adata
        Gene-centric AnnData with a window (:func:`prismtools.pp.set_window`).
    bigwig
        bigWig file. Chromosome names are matched with or without the ``chr`` prefix.
    name
        Track name (e.g. ``"H3K27ac"``); unique per sample.
    sample
        Biosample the track belongs to (normally a ``var`` name).
    role
        ``"foreground"`` (marks active regulatory elements, e.g. H3K27ac) or ``"background"`` (broad chromatin
        state, e.g. DNase/ATAC).
    stat
        Reduction of bases within a bin: ``mean``, ``max``, ``min`` or ``sum`` (NaN bases ignored).
    nan
        Value for positions without data (uncovered bases, past chromosome ends, chromosomes absent from the
        file; the last are counted and logged). ``None`` keeps NaN. ``+inf``/``-inf`` values in the file are
        treated as missing too (counted in a warning), never stored or averaged into bins.
    store
        Zarr store to stream into chunk by chunk (created from ``adata`` if absent); ``obsm["tracks"]`` then
        becomes lazy. Needed when the tracks do not fit in memory.

    Returns
    -------
    Nothing. Appends a track to ``obsm["tracks"]`` (float32, n_genes x n_tracks x n_bins) and a row
    ``(name, sample, role, kind="bigwig", source=<path>, transform="")`` to ``uns["prism"]["tracks"]``.

    Inputs from another assembly are noticed, naming the file: a warning when the file's chromosome sizes identify
    hg19/hg38 and the window's ``assembly`` says the other; an :class:`~prismtools.pp.InputFileError` when a gene's
    TSS lies beyond its chromosome's end in the file; a warning when more than half of the genes get no data at all
    (an assembly mismatch or a partial file). A corrupt file (unreadable data blocks) raises
    ``InputFileError`` naming it.

    Examples
    --------
    >>> import pandas as pd
    >>> import prismtools as pt
    >>> genes = pd.DataFrame({"chrom": ["chr1", "chr1", "chr2"], "start": [1000, 6000, 2000],
    ...                       "end": [4000, 9000, 5000], "strand": ["+", "-", "+"],
    ...                       "gene_id": ["ENSG01", "ENSG02", "ENSG03"], "gene_name": ["ALPHA", "BETA", "GAMMA"]})
    >>> adata = pt.pp.read_genes(genes)
    >>> pt.pp.set_window(adata, 200, bin_size=10)
    >>> import pyBigWig
    >>> bw = pyBigWig.open("H3K27ac.bw", "w")  # a tiny bigWig: a 100-bp peak over each TSS (+/- 50 bp)
    >>> bw.addHeader([("chr1", 10000), ("chr2", 7000)])
    >>> bw.addEntries(["chr1", "chr1", "chr2"], [950, 8949, 1950], ends=[1050, 9049, 2050], values=[5.0, 2.0, 8.0])
    >>> bw.close()
    >>> pt.pp.add_track(adata, "H3K27ac.bw", name="H3K27ac", sample="K562", role="foreground")
    >>> adata.obsm["tracks"].shape  # genes x tracks x bins
    (3, 1, 20)
    >>> adata.obsm["tracks"][:, 0, 4:16]  # the 100-bp peak fills the 10 central bins
    array([[0., 5., 5., 5., 5., 5., 5., 5., 5., 5., 5., 0.],
           [0., 2., 2., 2., 2., 2., 2., 2., 2., 2., 2., 0.],
           [0., 8., 8., 8., 8., 8., 8., 8., 8., 8., 8., 0.]], dtype=float32)
    >>> adata.uns["prism"]["tracks"]
          name sample        role    kind      source transform
    0  H3K27ac   K562  foreground  bigwig  H3K27ac.bw
    """
    _check_role(role)
    if stat not in STATS:
        raise ValueError(f"stat must be one of {STATS}; got {stat!r}.")
    win = get_window(adata)
    bw = open_bigwig(bigwig)
    sizes = bw.chroms()
    bw.close()
    if str(sample) not in adata.var_names:
        logger.warning("sample %r is not in adata.var (samples: %s); the track is added anyway.", sample, list(adata.var_names))
    chroms = gene_chroms(adata, sizes, source=str(bigwig), fill=str(nan))
    check_assembly(adata, chroms, sizes, source=str(bigwig))
    flip = minus_strand(adata) & (win["orientation"] == "transcript")
    row = {"name": str(name), "sample": str(sample), "role": role, "kind": "bigwig", "source": str(bigwig), "transform": ""}
    with block_stats(str(bigwig), n_present=int(sum(c is not None for c in chroms)), nan=nan) as token:
        fn = _BigWigBlock(str(bigwig), chroms, window_starts(adata, win), flip, win["width"], win["bin_size"], stat,
                          nan, token)
        block = run_rows(fn, adata, (win["n_bins"],), np.float32, desc=f"track-{name}")
        append_track(adata, block, row, store=store, desc=f"add_track({name})")
