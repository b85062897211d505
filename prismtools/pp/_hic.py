"""Hi-C as a per-position track: the virtual-4C profile from each gene's TSS bin, via cooler."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from anndata import AnnData

from .._core import get_window
from ._bigwig import _check_role
from ._assembly import check_assembly
from ._build import append_track, block_stats, finish_rows, in_row_batches, run_rows
from ._chroms import gene_chroms
from ._validate import InputFileError, as_int, reading
from ._window import minus_strand, window_starts

logger = logging.getLogger(__name__)
HIC_TRANSFORMS = (None, "log10p1", "log1p")


def transform_contacts(vals: np.ndarray, transform: str | None) -> np.ndarray:
    """Apply a Hi-C contact transform (one of ``HIC_TRANSFORMS``)."""
    if transform == "log10p1":
        return np.log10(vals + 1.0)
    if transform == "log1p":
        return np.log1p(vals)
    return vals


def resolve_cooler_uri(uri: str | os.PathLike, resolution: int | None) -> str:
    """Turn ``file.cool``, ``file.mcool`` + ``resolution`` or ``file.mcool::resolutions/N`` into a cooler URI."""
    import cooler

    uri = str(uri)
    path, _, group = uri.partition("::")
    if not Path(path).exists():
        raise FileNotFoundError(f"Hi-C file not found: {path!r}.")
    try:
        groups = cooler.fileops.list_coolers(path)
    except Exception as err:  # noqa: BLE001
        raise InputFileError(f"{path!r} is not a cooler file (.cool/.mcool), or it is corrupt: {err}") from err
    if not groups:
        try:  # older cooler formats (v1/v2) are not listed by list_coolers but open fine
            cooler.Cooler(path).binsize
            groups = ["/"]
        except Exception:  # noqa: BLE001
            groups = []
    if not groups:
        raise ValueError(f"{path!r} holds no cooler matrices (is it a .hic? convert it with hic2cool).")
    if group:
        group = "/" + group.lstrip("/")
        if group not in groups:
            raise ValueError(f"{uri!r}: no cooler at {group!r}; available: {groups}.")
        return f"{path}::{group}"
    if len(groups) == 1 and groups[0] == "/":
        if resolution is not None:
            binsize = cooler.Cooler(path).binsize
            if binsize != int(resolution):
                raise ValueError(f"{path!r} has resolution {binsize}, not the requested {resolution}.")
        return path
    res = sorted(int(g.rsplit("/", 1)[-1]) for g in groups if g.startswith("/resolutions/"))
    if resolution is None:
        raise ValueError(f"{path!r} is a multi-resolution .mcool; pass resolution= (one of {res}), "
                         f"or a URI such as '{path}::resolutions/{res[0] if res else 5000}'.")
    if int(resolution) not in res:
        raise ValueError(f"{path!r} has no resolution {resolution}; available: {res}.")
    return f"{path}::/resolutions/{int(resolution)}"


@dataclass
class _CoolerBlock:
    uri: str
    chroms: np.ndarray
    starts: np.ndarray
    tss: np.ndarray
    flip: np.ndarray
    width: int
    bin_size: int
    balance: bool
    transform: str | None
    nan: float | None
    token: str | None = None

    def __call__(self, lo: int, hi: int) -> np.ndarray:
        # per-base rows of a wide window are large (40 genes x 2 Mb = 320 MB of float32, and the transform and the
        # binning make temporaries of the same size): work through the genes in batches of bounded size
        return in_row_batches(self._rows, lo, hi, self.width)

    def _rows(self, lo: int, hi: int) -> np.ndarray:
        import cooler

        # One dense rectangle (TSS bins x window bins) is fetched per cluster of nearby genes on a chromosome
        # instead of one fetch per gene (a cooler fetch costs milliseconds however small). The rectangle is bounded
        # by the window, not by the cluster: at most `win_bins` TSS rows and 2 * win_bins columns, because cooler
        # reads every stored pixel of each row (and of each column, for the lower triangle) it touches, so a
        # cluster-sized rectangle of a dense matrix read ~1 GB of pixels to return kilobytes. Each gene's profile is
        # then the same matrix row as before: element (TSS bin, position bin) of the same stored pixels.
        with reading(self.uri, "the cooler header"):
            clr = cooler.Cooler(self.uri)
            res = clr.binsize
            sizes = clr.chromsizes
            mat = clr.matrix(balance=self.balance, sparse=False)
        width = self.width
        win_bins = width // res + 1
        max_gap = win_bins
        vals = np.full((hi - lo, width), np.nan, dtype=np.float32)
        chroms = self.chroms[lo:hi]
        starts = np.asarray(self.starts[lo:hi], dtype=np.int64)
        tss = np.asarray(self.tss[lo:hi], dtype=np.int64)
        for c in dict.fromkeys(x for x in chroms if x is not None):
            size = int(sizes[c])
            rows = np.flatnonzero(chroms == c)
            s, t = starts[rows], tss[rows]
            cs, ce = np.maximum(0, s), np.minimum(size, s + width)
            keep = (ce > cs) & (t >= 0) & (t < size)
            order = np.argsort(cs[keep], kind="stable")
            rows, s, cs, ce, t = (x[keep][order] for x in (rows, s, cs, ce, t))
            b_lo, b_hi, tb = cs // res, (ce - 1) // res, t // res
            i, n = 0, len(rows)
            while i < n:
                c0, c1, r0, r1, j = b_lo[i], b_hi[i], tb[i], tb[i], i + 1
                while (j < n and b_lo[j] <= c1 + max_gap and max(c1, b_hi[j]) - c0 < 2 * win_bins
                       and max(r1, tb[j]) - min(r0, tb[j]) < win_bins):
                    c1, r0, r1 = max(c1, b_hi[j]), min(r0, tb[j]), max(r1, tb[j])
                    j += 1
                with reading(self.uri, f"contacts of {c}:{int(c0) * res}-{min(size, (int(c1) + 1) * res)}",
                             errors=(OSError, RuntimeError, ValueError, KeyError)):
                    rect = mat.fetch((c, int(r0) * res, min(size, (int(r1) + 1) * res)),
                                     (c, int(c0) * res, min(size, (int(c1) + 1) * res)))
                for k in range(i, j):
                    vals[rows[k], cs[k] - s[k] : ce[k] - s[k]] = rect[tb[k] - r0, np.arange(cs[k], ce[k]) // res - c0]
                i = j
        return finish_rows(transform_contacts(vals, self.transform), bin_size=self.bin_size, stat="mean",
                           flip=self.flip[lo:hi], nan=self.nan, token=self.token,
                           present=np.array([x is not None for x in chroms], dtype=bool))


def add_hic(
    adata: AnnData,
    uri: str | os.PathLike,
    *,
    name: str = "HiC",
    sample: str,
    role: str = "background",
    resolution: int | None = None,
    balance: bool = True,
    transform: str | None = "log10p1",
    nan: float | None = 0.0,
    store: str | os.PathLike | None = None,
) -> None:
    """Add a Hi-C track: per position, the contact between the TSS's bin and that position's bin (virtual 4C).

    Parameters
    ----------
    adata
        Gene-centric AnnData with a window (:func:`prismtools.pp.set_window`).
    uri
        A ``.cool`` file, a ``.mcool`` file (with ``resolution=``) or a cooler URI
        (``file.mcool::resolutions/5000``).
    name, sample, role
        As in :func:`prismtools.pp.add_track`; Hi-C is a background signal in the Prism method.
    resolution
        Resolution to read from a ``.mcool`` (5,000 in the method note).
    balance
        Use balanced (``weight``-normalised) contacts; ``False`` reads raw counts.
    transform
        ``"log10p1"`` (``log10(x + 1)``, the method's choice), ``"log1p"`` or ``None``.
    nan
        Value for missing contacts (filtered bins, past chromosome ends, chromosomes absent from the matrix:
        counted and logged). ``None`` keeps NaN.
    store
        Zarr store to stream into (see :func:`prismtools.pp.add_track`).

    Returns
    -------
    Nothing. Appends a track to ``obsm["tracks"]`` and a row ``(name, sample, role, kind="hic", source=<uri>,
    transform=<transform>)`` to ``uns["prism"]["tracks"]``.

    Examples
    --------
    Virtual 4C of a few chr22 genes from the bundled K562 Hi-C (``.cool``, 5 kb; see
    :func:`prismtools.datasets.k562`):

    >>> import pandas as pd
    >>> import prismtools as pt
    >>> table = pd.read_csv(pt.datasets.data_path("k562_hg38_chr22_chr16_genes.tsv.gz"), sep="\\t")
    >>> genes = table[table["chrom"] == "chr22"].head(4).rename(
    ...     columns={"gene_start": "start", "gene_end": "end", "symbol": "gene_id"})
    >>> adata = pt.pp.read_genes(genes[["chrom", "start", "end", "strand", "tss", "gene_id"]])
    >>> pt.pp.set_window(adata, 50_000, bin_size=5000, assembly="hg38")
    >>> pt.pp.add_hic(adata, pt.datasets.data_path("K562_hg38_chr22_5kb.cool"), sample="K562")
    >>> adata.obsm["tracks"].shape
    (4, 1, 10)
    >>> tracks = adata.obsm["tracks"][:, 0]
    >>> bool((tracks[:, 5] >= tracks.max(axis=1) - 1e-6).all())  # contacts peak at the TSS's own bin
    True
    >>> adata.uns["prism"]["tracks"][["name", "kind", "transform"]]
      name kind transform
    0  HiC  hic   log10p1
    """
    import cooler

    _check_role(role, "hic")
    if transform not in HIC_TRANSFORMS:
        raise ValueError(f"transform must be one of {HIC_TRANSFORMS}; got {transform!r}.")
    if resolution is not None:
        resolution = as_int(resolution, "resolution", minimum=1)
    win = get_window(adata)
    curi = resolve_cooler_uri(uri, resolution)
    with reading(curi, "the cooler header"):
        clr = cooler.Cooler(curi)
        bins_columns = clr.bins().columns
    if balance and "weight" not in bins_columns:
        raise ValueError(
            f"{curi!r} has no balancing weights (bins/weight). Pass balance=False for raw counts, or balance it "
            f"first: `cooler balance {curi}`."
        )
    chroms = gene_chroms(adata, clr.chromnames, source=curi, fill=str(nan))
    check_assembly(adata, chroms, clr.chromsizes.to_dict(), source=curi, file_assembly=clr.info.get("genome-assembly"))
    flip = minus_strand(adata) & (win["orientation"] == "transcript")
    tss = adata.obs["tss"].to_numpy(dtype=np.int64)
    row = {"name": str(name), "sample": str(sample), "role": role, "kind": "hic", "source": curi,
           "transform": str(transform or "")}
    with block_stats(curi, n_present=int(sum(c is not None for c in chroms)), nan=nan) as token:
        fn = _CoolerBlock(curi, chroms, window_starts(adata, win), tss, flip, win["width"], win["bin_size"], balance,
                          transform, nan, token)
        block = run_rows(fn, adata, (win["n_bins"],), np.float32, desc=f"hic-{name}")
        append_track(adata, block, row, store=store, desc=f"add_hic({name})")
