"""DNA sequence around each TSS, via pyfaidx."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from anndata import AnnData

from .._core import TRACKS_KEY, get_window, prism_uns
from ._build import run_rows, store_sequence
from ._chroms import gene_chroms
from ._validate import InputFileError, reading
from ._window import minus_strand, window_starts

logger = logging.getLogger(__name__)

#: byte -> code (A,C,G,T = 0..3; everything else, including N and IUPAC codes, = 4)
_LUT = np.full(256, 4, dtype=np.uint8)
for _i, _b in enumerate("ACGT"):
    _LUT[ord(_b)] = _i
    _LUT[ord(_b.lower())] = _i
_COMPLEMENT = np.array([3, 2, 1, 0, 4], dtype=np.uint8)


def encode(seq: str | bytes) -> np.ndarray:
    """Encode a DNA string as uint8 codes A,C,G,T,N = 0..4 (any other letter -> 4)."""
    b = seq.encode() if isinstance(seq, str) else seq
    return _LUT[np.frombuffer(b, dtype=np.uint8)]


def decode(codes: np.ndarray) -> str:
    """Inverse of :func:`encode` (codes -> ``ACGTN`` string)."""
    return np.frombuffer(b"ACGTN", dtype=np.uint8)[np.asarray(codes, dtype=np.intp)].tobytes().decode()


def reverse_complement(codes: np.ndarray) -> np.ndarray:
    return _COMPLEMENT[codes][..., ::-1]


@dataclass
class _FastaBlock:
    path: str
    chroms: np.ndarray  # resolved names (None where absent)
    starts: np.ndarray
    flip: np.ndarray
    width: int
    index: str | None = None  # .fai location when not next to the FASTA

    def __call__(self, lo: int, hi: int) -> np.ndarray:
        from pyfaidx import Fasta

        out = np.full((hi - lo, self.width), 4, dtype=np.uint8)
        with reading(self.path, "the FASTA"), Fasta(self.path, indexname=self.index, as_raw=True,
                                                     sequence_always_upper=False, rebuild=False) as fa:
            for i in range(lo, hi):
                c = self.chroms[i]
                if c is None:
                    continue
                size = len(fa[c])
                s = int(self.starts[i])
                cs, ce = max(0, s), min(size, s + self.width)
                if ce > cs:
                    out[i - lo, cs - s : ce - s] = encode(fa[c][cs:ce])
                if self.flip[i]:
                    out[i - lo] = reverse_complement(out[i - lo])
        return out


def _compression(path: Path) -> str:
    """``"plain"``, ``"gzip"`` or ``"bgzip"`` (gzip with the BGZF ``BC`` extra field), from the first bytes."""
    with open(path, "rb") as fh:
        head = fh.read(18)
    if head[:2] != b"\x1f\x8b":
        return "plain"
    if len(head) >= 16 and head[3] & 4 and head[12:14] == b"BC":
        return "bgzip"
    return "gzip"


def _index_location(path: Path) -> str | None:
    """Where the ``.fai`` index lives: next to the FASTA (``None``, pyfaidx's default) when it exists there or the
    folder is writable; otherwise a file in ``pt.settings.cachedir`` keyed by the FASTA's absolute path."""
    import hashlib

    from .._settings import settings

    if Path(f"{path}.fai").exists() or os.access(str(path.parent), os.W_OK):
        return None
    key = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
    folder = Path(settings.cachedir) / "fai"
    folder.mkdir(parents=True, exist_ok=True)
    index = folder / f"{key}-{path.name}.fai"
    logger.info("%s: no .fai index and its folder is not writable; indexing into %s.", path, index)
    return str(index)


def _open_fasta(fasta: str | os.PathLike):
    """Open a FASTA with pyfaidx, refusing what it cannot read with an error naming the file and the fix.
    Returns ``(Fasta, index_location)``."""
    from pyfaidx import Fasta, FastaIndexingError

    path = Path(fasta)
    if not path.exists():
        raise FileNotFoundError(f"FASTA file not found: {str(path)!r}.")
    kind = _compression(path)
    if kind == "gzip":
        raise InputFileError(
            f"{str(path)!r} is gzip-compressed, which allows no random access. Recompress it with bgzip "
            f"(`gunzip {path.name} && bgzip {path.name.removesuffix('.gz')}`) or decompress it (`gunzip {path.name}`)."
        )
    if kind == "bgzip":
        try:
            import Bio  # noqa: F401  (pyfaidx reads bgzip through biopython)
        except ImportError:
            raise InputFileError(
                f"{str(path)!r} is bgzip-compressed; reading it needs biopython (`pip install 'prismtools[bgzip]'` or `pip install biopython`), or "
                f"decompress it (`gunzip {path.name}`)."
            ) from None
    try:
        index = _index_location(path)
    except OSError as err:
        raise InputFileError(
            f"{str(path)!r} has no .fai index and its folder is not writable, nor is the cache folder ({err}). Index "
            f"it where you can write (`samtools faidx {path}` as its owner), copy the FASTA to a writable folder, "
            "or set pt.settings.cachedir to a writable folder."
        ) from err
    try:
        return Fasta(str(path), indexname=index, as_raw=True), index
    except (FastaIndexingError, ValueError, UnicodeDecodeError) as err:
        raise InputFileError(
            f"Could not index FASTA {str(path)!r}: {err}. Check it is plain or bgzip-compressed FASTA "
            "(gzip-compressed files must be recompressed with bgzip or decompressed)."
        ) from err
    except OSError as err:
        raise InputFileError(
            f"Could not read or index FASTA {str(path)!r} ({err}). If its folder is read-only, index it with "
            f"`samtools faidx {path}` as its owner, copy it to a writable folder, or set pt.settings.cachedir."
        ) from err


def add_sequence(
    adata: AnnData,
    fasta: str | os.PathLike,
    *,
    reverse_complement_minus: bool = False,
    store: str | os.PathLike | None = None,
) -> None:
    """Extract the DNA sequence of every gene's window from a FASTA file (via pyfaidx).

    Parameters
    ----------
    adata
        Gene-centric AnnData with a window (:func:`prismtools.pp.set_window`).
    fasta
        FASTA file (plain or bgzip; a ``.fai`` index is built if missing, next to the file or, when that folder is
        read-only, in ``pt.settings.cachedir``). Chromosome names are matched with or without the ``chr`` prefix.
        A gzip (not bgzip) file is refused with the command that fixes it.
    reverse_complement_minus
        Reverse-complement minus-strand genes so every window reads 5'->3' along the transcript (the TSS stays at
        index ``width // 2``). Tracks added afterwards are flipped to match; the Prism recipe uses ``False``.
    store
        Zarr store to stream into (created from ``adata`` if absent); ``obsm["sequence"]`` then becomes lazy.

    Returns
    -------
    Nothing. Writes ``obsm["sequence"]`` (uint8, n_genes x width, A,C,G,T,N = 0..4; positions past a chromosome
    end, and genes on chromosomes absent from the FASTA, are N; the latter are counted and logged) and sets
    ``uns["prism"]["window"]["orientation"]`` (``"reference"`` or ``"transcript"``) and
    ``uns["prism"]["sequence_source"]``.

    Examples
    --------
    >>> import pandas as pd
    >>> import prismtools as pt
    >>> genes = pd.DataFrame({"chrom": ["chr1", "chr1", "chr2"], "start": [1000, 6000, 2000],
    ...                       "end": [4000, 9000, 5000], "strand": ["+", "-", "+"],
    ...                       "gene_id": ["ENSG01", "ENSG02", "ENSG03"], "gene_name": ["ALPHA", "BETA", "GAMMA"]})
    >>> adata = pt.pp.read_genes(genes)
    >>> pt.pp.set_window(adata, 200)
    >>> with open("genome.fa", "w") as fh:  # a tiny genome: chr1 = ACGT repeats, chr2 = GATTACA repeats
    ...     _ = fh.write(">chr1\\n" + "ACGT" * 2500 + "\\n>chr2\\n" + "GATTACA" * 1000 + "\\n")
    >>> pt.pp.add_sequence(adata, "genome.fa")
    >>> adata.obsm["sequence"].shape, adata.obsm["sequence"].dtype
    ((3, 200), dtype('uint8'))
    >>> adata.obsm["sequence"][0, 100:108]  # A,C,G,T,N = 0..4; the TSS base is at index 100
    array([0, 1, 2, 3, 0, 1, 2, 3], dtype=uint8)
    >>> "".join("ACGTN"[c] for c in adata.obsm["sequence"][2, 100:107])
    'CAGATTA'
    >>> adata.uns["prism"]["window"]["orientation"]
    'reference'
    """
    win = get_window(adata)
    orientation = "transcript" if reverse_complement_minus else "reference"
    if orientation != win["orientation"] and TRACKS_KEY in adata.obsm and adata.obsm[TRACKS_KEY].shape[1] > 0:
        raise ValueError(
            f"Tracks were extracted in {win['orientation']!r} orientation; adding the sequence with "
            f"reverse_complement_minus={reverse_complement_minus} would misalign them. Add the sequence first."
        )
    fa, index = _open_fasta(fasta)
    with fa:
        names = list(fa.keys())
    chroms = gene_chroms(adata, names, source=str(fasta), fill="N")
    prism_uns(adata)["window"] = {**{k: v for k, v in win.items() if k != "n_bins"}, "orientation": orientation}
    win = get_window(adata)
    flip = minus_strand(adata) & reverse_complement_minus
    fn = _FastaBlock(str(fasta), chroms, window_starts(adata, win), flip, win["width"], index)
    block = run_rows(fn, adata, (win["width"],), np.uint8, desc="add_sequence")
    store_sequence(adata, block, store=store, desc=f"add_sequence({Path(fasta).name})")
    prism_uns(adata)["sequence_source"] = str(fasta)
    if store is not None:
        from ..io._buildstore import BuildStore

        BuildStore(store, adata).sync_metadata(adata)
