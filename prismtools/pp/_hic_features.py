"""Hi-C virtual-4C tracks from sources other than cooler: precomputed per-gene HDF5 profiles and Juicer ``.hic``.

Two builders, both block functions on the chunked engine like :func:`prismtools.pp.add_hic`:

- :func:`add_hic_profiles` reads per-gene profiles that were computed once and stored in HDF5 (the Seq2Exp
  "GeneExp" layout: ``HiC/{cell}/hic_feat_chr{N}.h5``, key ``"{chrom}_{tss}"`` -> float[200000], the per-base
  contact of the TSS's bin with every base of ``tss +/- 100 kb``), via h5py, reading only the window's slice.
- :func:`add_juicer_hic` fetches the TSS-bin row of a ``.hic`` file with ``hicstraw`` (optional dependency,
  ``pip install 'prismtools[hic]'``), e.g. VC-normalised observed contacts at 5 kb as in the Prism method note.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from anndata import AnnData

from .._core import get_window
from ._bigwig import _check_role
from ._build import append_track, finish_rows, in_row_batches, run_rows
from ._chroms import gene_chroms
from ._hic import HIC_TRANSFORMS, transform_contacts
from ._validate import as_int
from ._window import minus_strand, window_starts

logger = logging.getLogger(__name__)

#: file name of one chromosome's profiles in a Seq2Exp ``HiC/{cell}/`` directory
PROFILE_FILE = "hic_feat_{chrom}.h5"
#: dataset name of one gene's profile inside that file
PROFILE_KEY = "{chrom}_{tss}"
HICSTRAW_HINT = (
    "Reading .hic files needs the optional dependency hic-straw: `pip install 'prismtools[hic]'` (or "
    "`pip install hic-straw`; it compiles against libcurl, so install the libcurl development headers first, e.g. "
    "`apt-get install libcurl4-openssl-dev`). Alternatively convert the .hic to .mcool (hic2cool) and pass that."
)


def _check_common(role: str, transform: str | None) -> None:
    _check_role(role, "hic")
    if transform not in HIC_TRANSFORMS:
        raise ValueError(f"transform must be one of {HIC_TRANSFORMS}; got {transform!r}.")


# --------------------------------------------------------------------------------------------------------------
# precomputed per-gene profiles in HDF5
# --------------------------------------------------------------------------------------------------------------


def profile_file_pattern(path: str | os.PathLike) -> str:
    """A directory (holding ``hic_feat_{chrom}.h5``) or a pattern containing ``{chrom}`` -> the file pattern."""
    p = str(path)
    if "{chrom}" in p:
        return p
    return str(Path(p) / PROFILE_FILE)


def profile_start(tss: int, n: int, span: int) -> int:
    """Genomic coordinate of element 0 of a stored profile of length ``n`` (nominal length ``span``).

    A full profile covers ``[tss - span // 2, tss + span // 2)``, so its TSS is at index ``span // 2``. A shorter
    one was clipped at a chromosome end: it starts at ``max(0, tss - span // 2)``.
    """
    if n >= span:
        return int(tss) - n // 2
    return max(0, int(tss) - span // 2)


def check_profile_files(pattern: str, chroms, *, key: str = PROFILE_KEY, span: int = 200_000) -> None:
    """Raise :class:`FileNotFoundError` naming the first missing per-chromosome profile file of ``chroms``."""
    chroms = np.asarray(chroms, dtype=str)
    missing = [c for c in dict.fromkeys(chroms) if not Path(pattern.format(chrom=c)).is_file()]
    if missing:
        n_genes = int(np.isin(chroms, missing).sum())
        raise FileNotFoundError(
            f"Hi-C profile file not found: {pattern.format(chrom=missing[0])!r}. It should hold, for every gene on "
            f"{missing[0]}, an HDF5 dataset {key!r} -> float[{span}]: the per-base contact of the TSS's bin over tss "
            f"+/- {span // 2} bp. Missing for {len(missing)} chromosome(s) {missing[:5]} ({n_genes} genes)."
        )


@dataclass
class _H5ProfileBlock:
    pattern: str
    key: str
    chroms: np.ndarray  # chromosome names as in obs (None: no file)
    tss: np.ndarray
    starts: np.ndarray
    flip: np.ndarray
    width: int
    bin_size: int
    span: int
    transform: str | None
    nan: float | None

    def __call__(self, lo: int, hi: int) -> np.ndarray:
        return in_row_batches(self._rows, lo, hi, self.width)  # bounded memory for wide windows

    def _rows(self, lo: int, hi: int) -> np.ndarray:
        import h5py

        vals = np.full((hi - lo, self.width), np.nan, dtype=np.float32)
        files: dict[str, h5py.File] = {}
        try:
            for i in range(lo, hi):
                c = self.chroms[i]
                if c is None:
                    continue
                if c not in files:
                    files[c] = h5py.File(self.pattern.format(chrom=c), "r")
                f = files[c]
                t = int(self.tss[i])
                k = self.key.format(chrom=c, tss=t)
                if k not in f:
                    continue
                ds = f[k]
                n = int(ds.shape[0])
                p0 = profile_start(t, n, self.span)
                s = int(self.starts[i])
                a, b = max(s, p0), min(s + self.width, p0 + n)  # window part covered by the profile
                if b > a:
                    vals[i - lo, a - s : b - s] = ds[a - p0 : b - p0]
        finally:
            for f in files.values():
                f.close()
        return finish_rows(transform_contacts(vals, self.transform), bin_size=self.bin_size, stat="mean",
                           flip=self.flip[lo:hi], nan=self.nan)


def add_hic_profiles(
    adata: AnnData,
    path: str | os.PathLike,
    *,
    name: str = "HiC",
    sample: str,
    role: str = "background",
    key: str = PROFILE_KEY,
    span: int = 200_000,
    transform: str | None = "log10p1",
    nan: float | None = 0.0,
    store: str | os.PathLike | None = None,
) -> None:
    """Add a Hi-C track from precomputed per-gene virtual-4C profiles stored in HDF5 (one file per chromosome).

    This is how the Seq2Exp "GeneExp" download ships Hi-C: ``HiC/{cell}/hic_feat_chr{N}.h5`` holds, for every
    gene, a dataset ``"{chrom}_{tss}"`` of ``span`` (200,000) raw per-base values: the contact of the TSS's 5-kb bin
    with each base of ``[tss - span/2, tss + span/2)``. The window is cut from the centre of each profile (only
    that slice is read). Profiles shorter than ``span`` are taken to be clipped at a chromosome end (they start at
    ``max(0, tss - span/2)``), as in the Seq2Exp loader.

    Parameters
    ----------
    adata
        Gene-centric AnnData with a window (:func:`prismtools.pp.set_window`) and ``obs["tss"]`` exactly as used
        in the profile keys.
    path
        The directory holding ``hic_feat_{chrom}.h5``, or a file pattern containing ``{chrom}``
        (e.g. ``"HiC/K562/hic_feat_{chrom}.h5"``).
    name, sample, role
        As in :func:`prismtools.pp.add_track`; Hi-C is a background signal in the Prism method.
    key
        Dataset name pattern inside each file, with ``{chrom}`` and ``{tss}``.
    span
        Nominal length of a stored profile (bp), centred on the TSS.
    transform
        ``"log10p1"`` (``log10(x + 1)``, the method's choice), ``"log1p"`` or ``None``; applied per base.
    nan
        Value for missing contacts (NaN in the file, window positions outside the profile, genes without a
        profile: the last are counted and logged). ``None`` keeps NaN.
    store
        Zarr store to stream into (see :func:`prismtools.pp.add_track`).

    Returns
    -------
    Nothing. Appends a track to ``obsm["tracks"]`` and a row ``(name, sample, role, kind="hic",
    source=<file pattern>, transform=<transform>)`` to ``uns["prism"]["tracks"]``.

    Examples
    --------
    >>> import pandas as pd
    >>> import prismtools as pt
    >>> genes = pd.DataFrame({"chrom": ["chr1", "chr1", "chr2"], "start": [1000, 6000, 2000],
    ...                       "end": [4000, 9000, 5000], "strand": ["+", "-", "+"],
    ...                       "gene_id": ["ENSG01", "ENSG02", "ENSG03"], "gene_name": ["ALPHA", "BETA", "GAMMA"]})
    >>> adata = pt.pp.read_genes(genes)
    >>> pt.pp.set_window(adata, 100)
    >>> import h5py
    >>> import numpy as np
    >>> for chrom, genes_on in adata.obs.groupby("chrom", observed=True):  # one HDF5 file per chromosome
    ...     with h5py.File(f"hic_feat_{chrom}.h5", "w") as f:
    ...         for tss in genes_on["tss"]:  # a profile of 1,000 values centred on the TSS
    ...             f[f"{chrom}_{tss}"] = 9.0 * np.exp(-np.abs(np.arange(1000) - 500) / 100)
    >>> pt.pp.add_hic_profiles(adata, "hic_feat_{chrom}.h5", sample="K562", span=1000)
    >>> adata.obsm["tracks"].shape
    (3, 1, 100)
    >>> adata.obsm["tracks"][0, 0, [0, 50, 99]].round(3)  # log10(x + 1) of the window's slice of the profile
    array([0.81 , 1.   , 0.814], dtype=float32)
    """
    import h5py

    _check_common(role, transform)
    win = get_window(adata)
    pattern = profile_file_pattern(path)
    span = as_int(span, "span", minimum=2)
    obs_chroms = adata.obs["chrom"].astype(str).to_numpy()
    tss = adata.obs["tss"].to_numpy(dtype=np.int64)
    check_profile_files(pattern, obs_chroms, key=key, span=span)
    n_missing = 0
    example = None
    for c in dict.fromkeys(obs_chroms):
        idx = np.flatnonzero(obs_chroms == c)
        with h5py.File(pattern.format(chrom=c), "r") as f:
            for i in idx:
                k = key.format(chrom=c, tss=int(tss[i]))
                if k not in f:
                    n_missing += 1
                    example = example or k
    if n_missing == adata.n_obs:
        raise ValueError(
            f"None of the genes has a Hi-C profile in {pattern!r} (looked for keys such as {example!r}). Are the "
            "TSS coordinates the ones the profiles were made with (ABC GeneList 'tss')?"
        )
    if n_missing:
        logger.warning("%s: %d of %d genes have no Hi-C profile (e.g. key %r); their track is %s.",
                       pattern, n_missing, adata.n_obs, example, nan)
    if win["width"] > span:
        logger.warning("window width %d exceeds the stored profile span %d; positions beyond it are %s.",
                       win["width"], span, nan)
    flip = minus_strand(adata) & (win["orientation"] == "transcript")
    fn = _H5ProfileBlock(pattern, key, obs_chroms.astype(object), tss, window_starts(adata, win), flip,
                         win["width"], win["bin_size"], span, transform, nan)
    block = run_rows(fn, adata, (win["n_bins"],), np.float32, desc=f"hic-{name}")
    row = {"name": str(name), "sample": str(sample), "role": role, "kind": "hic", "source": pattern,
           "transform": str(transform or "")}
    append_track(adata, block, row, store=store, desc=f"add_hic_profiles({name})")


# --------------------------------------------------------------------------------------------------------------
# Juicer .hic via hicstraw
# --------------------------------------------------------------------------------------------------------------


def import_hicstraw():
    """Import ``hicstraw`` or raise an :class:`ImportError` that says how to install it."""
    try:
        import hicstraw
    except ImportError as err:
        raise ImportError(HICSTRAW_HINT) from err
    return hicstraw


@dataclass
class _JuicerBlock:
    path: str
    chroms: np.ndarray  # names as in the .hic file (None where absent)
    sizes: dict
    starts: np.ndarray
    tss: np.ndarray
    flip: np.ndarray
    width: int
    bin_size: int
    resolution: int
    normalization: str
    transform: str | None
    nan: float | None

    def __call__(self, lo: int, hi: int) -> np.ndarray:
        return in_row_batches(self._rows, lo, hi, self.width)  # bounded memory for wide windows

    def _rows(self, lo: int, hi: int) -> np.ndarray:
        # One rectangle (TSS bins x window bins) is fetched per cluster of nearby genes on a chromosome instead of
        # one fetch per gene (each fetch reads and decompresses whole blocks); clusters break at TSS gaps > max_gap
        # bins or when the rectangle would exceed max_rows x max_cols bins (hicstraw builds it on the C stack).
        max_gap, max_rows, max_cols = 100, 200, 250
        hicstraw = import_hicstraw()
        res, width = self.resolution, self.width
        hic = hicstraw.HiCFile(self.path)
        vals = np.full((hi - lo, width), np.nan, dtype=np.float32)
        chroms = self.chroms[lo:hi]
        starts = np.asarray(self.starts[lo:hi], dtype=np.int64)
        tss = np.asarray(self.tss[lo:hi], dtype=np.int64)
        for c in dict.fromkeys(x for x in chroms if x is not None):
            size = int(self.sizes[c])
            rows = np.flatnonzero(chroms == c)
            s, t = starts[rows], tss[rows]
            cs, ce = np.maximum(0, s), np.minimum(size, s + width)
            keep = (ce > cs) & (t >= 0) & (t < size)
            order = np.argsort(t[keep], kind="stable")
            rows, s, t, cs, ce = (x[keep][order] for x in (rows, s, t, cs, ce))
            tb, b_lo, b_hi = t // res, cs // res, (ce - 1) // res
            if not len(rows):
                continue
            zoom = hic.getMatrixZoomData(c, c, "observed", self.normalization, "BP", res)
            i, n = 0, len(rows)
            while i < n:
                r0, r1, c0, c1, j = tb[i], tb[i], b_lo[i], b_hi[i], i + 1
                while (j < n and tb[j] - r1 <= max_gap and tb[j] - r0 < max_rows
                       and max(c1, b_hi[j]) - min(c0, b_lo[j]) < max_cols):
                    r1, c0, c1, j = tb[j], min(c0, b_lo[j]), max(c1, b_hi[j]), j + 1
                # hicstraw selects records by bin start within inclusive bounds: pass bin-aligned coordinates
                m = np.asarray(zoom.getRecordsAsMatrix(int(r0 * res), int(r1 * res), int(c0 * res), int(c1 * res)),
                               dtype=np.float32)
                shape = (int(r1 - r0 + 1), int(c1 - c0 + 1))
                if m.shape != shape:  # a region without records comes back as a 1 x 1 zero matrix
                    m = np.zeros(shape, dtype=np.float32)
                for k in range(i, j):
                    pos_bins = np.arange(cs[k], ce[k]) // res - c0
                    vals[rows[k], cs[k] - s[k] : ce[k] - s[k]] = m[tb[k] - r0, pos_bins]
                i = j
        return finish_rows(transform_contacts(vals, self.transform), bin_size=self.bin_size, stat="mean",
                           flip=self.flip[lo:hi], nan=self.nan)


def add_juicer_hic(
    adata: AnnData,
    path: str | os.PathLike,
    *,
    name: str = "HiC",
    sample: str,
    role: str = "background",
    resolution: int = 5000,
    normalization: str = "VC",
    transform: str | None = "log10p1",
    nan: float | None = 0.0,
    store: str | os.PathLike | None = None,
) -> None:
    """Add a Hi-C track from a Juicer ``.hic`` file: per position, the contact of the TSS's bin with that position's
    bin (virtual 4C), read with ``hicstraw``.

    Needs the optional dependency ``hic-straw`` (``pip install 'prismtools[hic]'``). For ``.cool``/``.mcool``
    files use :func:`prismtools.pp.add_hic`.

    Parameters
    ----------
    adata
        Gene-centric AnnData with a window (:func:`prismtools.pp.set_window`).
    path
        A ``.hic`` file (Juicer format). Chromosome names are matched with or without the ``chr`` prefix.
    name, sample, role
        As in :func:`prismtools.pp.add_track`; Hi-C is a background signal in the Prism method.
    resolution
        Bin size in bp; must be one of the file's resolutions (5,000 in the method note).
    normalization
        ``hicstraw`` normalisation of observed contacts: ``"VC"`` (the method's), ``"VC_SQRT"``, ``"KR"``,
        ``"SCALE"`` or ``"NONE"``; it must be stored in the file.
    transform
        ``"log10p1"`` (``log10(x + 1)``), ``"log1p"`` or ``None``.
    nan
        Value for missing contacts (past chromosome ends, chromosomes absent from the file: counted and logged).
        ``None`` keeps NaN. Contacts hicstraw does not return (zero or non-finite) are 0.
    store
        Zarr store to stream into (see :func:`prismtools.pp.add_track`).

    Returns
    -------
    Nothing. Appends a track to ``obsm["tracks"]`` and a row ``(name, sample, role, kind="hic",
    source=<path>, transform=<transform>)`` to ``uns["prism"]["tracks"]``.

    Examples
    --------
    >>> import pandas as pd
    >>> import prismtools as pt
    >>> genes = pd.DataFrame({"chrom": ["chr1", "chr1", "chr2"], "start": [1000, 6000, 2000],
    ...                       "end": [4000, 9000, 5000], "strand": ["+", "-", "+"],
    ...                       "gene_id": ["ENSG01", "ENSG02", "ENSG03"], "gene_name": ["ALPHA", "BETA", "GAMMA"]})
    >>> adata = pt.pp.read_genes(genes)
    >>> pt.pp.set_window(adata, 50_000, bin_size=5000, assembly="hg38")

    With a Juicer ``.hic`` file (such as ENCODE's in-situ Hi-C of K562) and ``hic-straw`` installed:

    >>> pt.pp.add_juicer_hic(adata, "K562.hic", sample="K562", resolution=5000)  # doctest: +SKIP
    >>> adata.obsm["tracks"].shape  # doctest: +SKIP
    (3, 1, 10)
    """
    _check_common(role, transform)
    hicstraw = import_hicstraw()
    win = get_window(adata)
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"Hi-C file not found: {str(p)!r} (a Juicer .hic file).")
    try:
        hic = hicstraw.HiCFile(str(p))
        chrom_list = [(str(ch.name), int(ch.length)) for ch in hic.getChromosomes()]
        resolutions = [int(r) for r in hic.getResolutions()]
    except Exception as err:  # noqa: BLE001
        raise ValueError(f"{str(p)!r} could not be read as a .hic file ({err}).") from err
    resolution = as_int(resolution, "resolution", minimum=1)
    if resolution not in resolutions:
        raise ValueError(f"{str(p)!r} has no resolution {resolution}; available: {sorted(resolutions)}.")
    sizes = {n: length for n, length in chrom_list if n.upper() != "ALL"}
    chroms = gene_chroms(adata, sizes, source=str(p), fill=str(nan))
    flip = minus_strand(adata) & (win["orientation"] == "transcript")
    tss = adata.obs["tss"].to_numpy(dtype=np.int64)
    fn = _JuicerBlock(str(p), chroms, sizes, window_starts(adata, win), tss, flip, win["width"], win["bin_size"],
                      int(resolution), str(normalization), transform, nan)
    block = run_rows(fn, adata, (win["n_bins"],), np.float32, desc=f"hic-{name}")
    row = {"name": str(name), "sample": str(sample), "role": role, "kind": "hic", "source": str(p),
           "transform": str(transform or "")}
    append_track(adata, block, row, store=store, desc=f"add_juicer_hic({name})")
