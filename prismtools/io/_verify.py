"""End-to-end checks of a store (``prismtools info --verify``) and the list of leftovers of interrupted writes."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import numpy as np
import zarr

from ._buildstore import internal_leftovers
from ._errors import CorruptStoreError
from ._zarr import check_chunks, open_complete_group, root_meta, sibling_leftovers


def leftovers(path: str | os.PathLike) -> list[Path]:
    """Folders and files left by interrupted writes of ``path`` (removed by its next successful write).

    Examples
    --------
    >>> import prismtools as pt
    >>> pt.io.write(pt.datasets.toy(n_genes=16, width=64), "leftovers.zarr")
    >>> pt.io.leftovers("leftovers.zarr")
    []
    """
    path = Path(path).absolute()
    inside = internal_leftovers(path) if path.is_dir() else []
    return sibling_leftovers(path) + inside


def _arrays(group: zarr.Group, prefix: str = ""):
    for name, node in group.members():
        key = f"{prefix}{name}"
        if isinstance(node, zarr.Array):
            yield key, node
        else:
            yield from _arrays(node, f"{key}/")


def verify(path: str | os.PathLike) -> dict:
    """Check a store end to end: commit record, chunk-file counts, and every chunk of every array decoded
    (a corrupted chunk fails its crc32c checksum; a store without checksums is only decoded).

    Returns
    -------
    ``{"arrays": n, "chunks": n, "bytes": n}`` of what was read.

    Raises
    ------
    CorruptStoreError
        Listing every array that failed, with the store's path and what to do.

    Examples
    --------
    >>> import prismtools as pt
    >>> pt.io.write(pt.datasets.toy(n_genes=16, width=64), "verified.zarr")
    >>> report = pt.io.verify("verified.zarr")
    >>> sorted(report), report["arrays"] > 0
    (['arrays', 'bytes', 'chunks'], True)
    """
    path = Path(path)
    group = open_complete_group(path)
    check_chunks(path, root_meta(path))
    problems, n_arr, n_chunks, n_bytes = [], 0, 0, 0
    for key, arr in _arrays(group):
        n_arr += 1
        grid = [range(0, s, c) for s, c in zip(arr.shape, arr.chunks)]
        for starts in itertools.product(*grid):
            sel = tuple(slice(s, s + c) for s, c in zip(starts, arr.chunks))
            try:
                n_bytes += np.asarray(arr[sel]).nbytes
            except Exception as err:  # noqa: BLE001 - any decoding failure is damage
                problems.append(f"{key} chunk at {starts}: {err}")
                break
            n_chunks += 1
    if problems:
        raise CorruptStoreError(
            f"The store {str(path)!r} is damaged; {len(problems)} array(s) failed to decode: "
            + "; ".join(problems) + ". Copy it again from its source, or rebuild it."
        )
    return {"arrays": n_arr, "chunks": n_chunks, "bytes": n_bytes}
