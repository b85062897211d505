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
