"""Noticing inputs from a different genome assembly than the genes (hg19 genes on an hg38 bigWig, and the like).

Three checks, all naming the file: the file's declared assembly or chromosome sizes identify a known assembly that
differs from the window's ``assembly`` label (warning: a file can be labelled by its header only, as one of the
bundled chr9 cuts is); genes whose TSS lies beyond the end of their chromosome in the file (error: no gene can start
past a chromosome's end in its own assembly); far more genes without any data than expected (warning, after the
build, see :func:`prismtools.pp._build.report_block_stats`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np

from ._validate import InputFileError

logger = logging.getLogger(__name__)

_MAIN = [str(i) for i in range(1, 23)] + ["X", "Y"]
#: main-chromosome sizes (UCSC chromosome sizes files: hg19.chrom.sizes and GRCh38_EBV.no_alt.chrom.sizes, as
#: in ../shared/data); enough to tell the two human assemblies apart from any file header.
ASSEMBLY_SIZES: dict[str, dict[str, int]] = {
    "hg19": dict(zip(_MAIN, [
        249250621, 243199373, 198022430, 191154276, 180915260, 171115067, 159138663, 146364022, 141213431,
        135534747, 135006516, 133851895, 115169878, 107349540, 102531392, 90354753, 81195210, 78077248, 59128983,
        63025520, 48129895, 51304566, 155270560, 59373566])),
    "hg38": dict(zip(_MAIN, [
        248956422, 242193529, 198295559, 190214555, 181538259, 170805979, 159345973, 145138636, 138394717,
        133797422, 135086622, 133275309, 114364328, 107043718, 101991189, 90338345, 83257441, 80373285, 58617616,
        64444167, 46709983, 50818468, 156040895, 57227415])),
}
_ALIASES = {"grch37": "hg19", "hg19": "hg19", "b37": "hg19", "grch38": "hg38", "hg38": "hg38"}


def canonical_assembly(label: str | None) -> str | None:
    """``"GRCh38"`` -> ``"hg38"``, ``"hg19"``/``"GRCh37"`` -> ``"hg19"``; unknown labels -> ``None``."""
    if not label:
        return None
    return _ALIASES.get(str(label).strip().lower().split(".")[0])


def identify_assembly(sizes: Mapping[str, int]) -> str | None:
    """The known assembly whose main-chromosome sizes all agree with ``sizes`` (names with or without ``chr``)."""
    bare = {str(c).removeprefix("chr"): int(n) for c, n in sizes.items()}
    hits = []
    for name, ref in ASSEMBLY_SIZES.items():
        common = [c for c in ref if c in bare]
        if common and all(bare[c] == ref[c] for c in common):
            hits.append(name)
    return hits[0] if len(hits) == 1 else None


def check_assembly(adata, chroms: np.ndarray, sizes: Mapping[str, int], *, source: str,
                   file_assembly: str | None = None) -> None:
    """Warn when a file's assembly differs from the window's label; refuse genes beyond a chromosome's end.

    ``chroms`` are the genes' chromosome names as in the file (``None`` where absent, from
    :func:`prismtools.pp._chroms.gene_chroms`); ``sizes`` the file's chromosome sizes; ``file_assembly`` an
    assembly label the file declares (e.g. a cooler's ``genome-assembly``).
    """
    from .._core import get_window

    win = get_window(adata, required=False) or {}
    want = canonical_assembly(win.get("assembly"))
    have = canonical_assembly(file_assembly) or identify_assembly(sizes)
    if want is not None and have is not None and want != have:
        why = (f"declares genome assembly {file_assembly!r}" if canonical_assembly(file_assembly)
               else f"has the chromosome sizes of {have}")
        logger.warning(
            "%s %s but the genes' window is labelled %r (%s): positions differ between assemblies, so the values "
            "may belong to other bases. Use a %s file (or lift the file over to %s).",
            repr(source), why, win.get("assembly"), want, want, want,
        )
    tss = adata.obs["tss"].to_numpy(dtype=np.int64)
    present = np.array([c is not None for c in chroms], dtype=bool)
    size = np.array([int(sizes[c]) if c is not None else np.iinfo(np.int64).max for c in chroms], dtype=np.int64)
    beyond = present & (tss >= size)
    if beyond.any():
        idx = np.flatnonzero(beyond)
        ex = ", ".join(f"{adata.obs_names[i]} ({chroms[i]}:{tss[i]:,} >= {size[i]:,})" for i in idx[:3])
        which = f" (its chromosome sizes are those of {have})" if have else ""
        raise InputFileError(
            f"{source!r}{which}: {beyond.sum()} genes have their TSS beyond the end of their chromosome in this file "
            f"(e.g. {ex}). The genes and the file are from different assemblies (e.g. hg19 vs hg38): use a file "
            "of the genes' assembly, or the annotation that matches the file."
        )
