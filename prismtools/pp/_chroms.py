"""Matching chromosome names between annotations and data files (``chr1`` vs ``1``, ``chrM`` vs ``MT``)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

logger = logging.getLogger(__name__)


def _alternatives(name: str) -> list[str]:
    name = str(name)
    alts = [name]
    if name.startswith("chr"):
        bare = name[3:]
        alts.append(bare)
        if bare == "M":
            alts.append("MT")
    else:
        alts.append(f"chr{name}")
        if name == "MT":
            alts.append("chrM")
    return alts


def chrom_map(chroms: Iterable[str], available: Iterable[str], *, source: str = "") -> dict[str, str | None]:
    """Map each chromosome in ``chroms`` to its name in ``available`` (``None`` when absent).

    Exact names win; otherwise the ``chr`` prefix is added or removed (logged once per file).
    """
    available = set(map(str, available))
    out: dict[str, str | None] = {}
    renamed = []
    for c in dict.fromkeys(map(str, chroms)):
        hit = next((a for a in _alternatives(c) if a in available), None)
        out[c] = hit
        if hit is not None and hit != c:
            renamed.append(f"{c}->{hit}")
    if renamed:
        logger.info("%s: matched chromosome names by prefix (%s)", source or "file", ", ".join(renamed[:5]) + (" ..." if len(renamed) > 5 else ""))
    return out


def gene_chroms(adata, available: Iterable[str], *, source: str, fill: str = "the fill value") -> "np.ndarray":
    """Each gene's chromosome as named in a data file (``None`` where absent), for the builders.

    Raises when no gene's chromosome is in the file (wrong assembly or naming); logs how many genes are on
    chromosomes the file lacks (their values become ``fill``).
    """
    import numpy as np

    available = list(map(str, available))
    obs_chroms = adata.obs["chrom"].astype(str)
    cmap = chrom_map(obs_chroms, available, source=source)
    chroms = np.array([cmap[c] for c in obs_chroms], dtype=object)
    missing = int(sum(c is None for c in chroms))
    if missing == adata.n_obs:
        raise ValueError(
            f"None of the genes' chromosomes ({sorted(set(obs_chroms))[:5]}) are in {source!r} "
            f"(it has {available[:5]}). Is this the right assembly?"
        )
    if missing:
        logger.warning("%s: %d of %d genes are on chromosomes absent from the file; filled with %s.",
                       source, missing, adata.n_obs, fill)
    return chroms
