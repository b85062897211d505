"""One zarr store per dataset: atomic writes, lazy reads of the large ``obsm`` arrays.

The store is a plain AnnData zarr store (``anndata.read_zarr`` opens it eagerly), plus a root attribute
``prismtools = {"status": ..., "version": ...}``. Only a store whose status is ``"complete"`` is read by
:func:`read`; a store left behind by an interrupted build carries ``"writing: <operation>"`` and is refused with
a message saying what was interrupted.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
import warnings
from pathlib import Path

import anndata as ad
import dask.array as da
import numpy as np
import pandas as pd
import zarr
from anndata import AnnData
from anndata.io import read_elem, write_elem

from .._settings import settings

logger = logging.getLogger(__name__)

STATUS_ATTR = "prismtools"
COMPLETE = "complete"
FORMAT_VERSION = 1
#: obsm arrays that are stored chunked by genes and opened lazily.
LAZY_OBSM = ("sequence", "tracks")
LAZY_MIN_BYTES = 64 * 2**20


class IncompleteStoreError(RuntimeError):
    """Raised when a store was left behind by an interrupted or failed write."""


def _version() -> str:
    from .. import __version__

    return __version__


def set_status(group: zarr.Group, status: str) -> None:
    group.attrs[STATUS_ATTR] = {"status": status, "format_version": FORMAT_VERSION, "version": _version()}


def get_status(group: zarr.Group) -> str | None:
    meta = group.attrs.get(STATUS_ATTR)
    return None if meta is None else str(meta.get("status"))


def gene_chunks(shape: tuple[int, ...], chunk_genes: int | None = None, max_positions: int = 65_536) -> tuple:
    """Chunk shape for a gene-major array: ``chunk_genes`` genes, one track, up to ``max_positions`` positions."""
    cg = int(chunk_genes or settings.chunk_genes)
    cg = max(1, min(cg, shape[0] or 1))
    if len(shape) == 3:
        return (cg, 1, max(1, min(shape[2], max_positions)))
    if len(shape) == 2:
        return (cg, max(1, min(shape[1], max_positions * 4)))
    return (cg,)


def create_gene_array(group: zarr.Group, name: str, shape, dtype, *, chunk_genes=None, fill_value=0) -> zarr.Array:
    """Create an AnnData-encoded dense array chunked by genes."""
    arr = group.create_array(
        name, shape=tuple(int(s) for s in shape), dtype=dtype, chunks=gene_chunks(tuple(shape), chunk_genes),
        fill_value=fill_value, overwrite=True,
    )
    arr.attrs.update({"encoding-type": "array", "encoding-version": "0.2.0"})
    return arr


def store_array(src, target: zarr.Array, *, region=None) -> None:
    """Stream ``src`` (numpy or dask) into ``target`` chunk by chunk (never whole in memory for dask)."""
    if isinstance(src, da.Array):
        src = src.rechunk(tuple(target.chunks[i] if region is None else src.chunksize[i] for i in range(src.ndim)))
        da.store(src, target, regions=region, lock=False, compute=True)
    else:
        if region is None:
            target[...] = np.asarray(src)
        else:
            target[region] = np.asarray(src)


def _is_large(x) -> bool:
    return isinstance(x, da.Array) or getattr(x, "nbytes", 0) >= LAZY_MIN_BYTES


def write(adata: AnnData, path: str | os.PathLike, *, chunk_genes: int | None = None) -> None:
    """Write ``adata`` to one zarr store, atomically.

    The store is written into a temporary sibling directory and renamed into place once complete, so an
    interrupted write never leaves a store at ``path`` that reads as complete (an existing store at ``path`` is
    replaced only after the new one is complete). Lazy (dask) arrays are streamed chunk by chunk.

    Parameters
    ----------
    adata
        The AnnData to write. ``obsm["sequence"]`` and ``obsm["tracks"]`` (and any dask-backed array) are
        stored chunked by genes so that :func:`read` can open them lazily.
    path
        Destination directory (conventionally ``*.zarr``).
    chunk_genes
        Genes per chunk (default ``pt.settings.chunk_genes``).
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        _write_group(adata, tmp, chunk_genes=chunk_genes)
        _replace_dir(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("wrote %s (%d genes x %d samples)", path, adata.n_obs, adata.n_vars)


def _write_group(adata: AnnData, path: Path, *, chunk_genes=None) -> None:
    group = zarr.open_group(str(path), mode="w", zarr_format=3)
    set_status(group, "writing: pt.io.write")
    group.attrs.update({"encoding-type": "anndata", "encoding-version": "0.1.0"})
    with warnings.catch_warnings(), ad.settings.override(zarr_write_format=3):
        warnings.filterwarnings("ignore", message=".*autosharding.*", category=UserWarning)
        x = adata.X
        if x is None:
            x = np.zeros((adata.n_obs, adata.n_vars), dtype=np.float32)
        write_elem(group, "X", np.asarray(x) if not hasattr(x, "tocsr") else x)
        for key in ("obs", "var", "uns", "layers", "obsp", "varm", "varp"):
            val = getattr(adata, key)
            write_elem(group, key, val if isinstance(val, pd.DataFrame) else dict(val))
        obsm = group.require_group("obsm")
        obsm.attrs.update({"encoding-type": "dict", "encoding-version": "0.1.0"})
        for key, val in adata.obsm.items():
            if key in LAZY_OBSM or _is_large(val):
                val = val if isinstance(val, da.Array) else np.asarray(val)
                arr = create_gene_array(obsm, key, val.shape, val.dtype, chunk_genes=chunk_genes)
                store_array(val, arr)
            else:
                write_elem(obsm, key, val)
    set_status(group, COMPLETE)


def _replace_dir(src: Path, dst: Path) -> None:
    if dst.exists():
        trash = dst.with_name(f".{dst.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(dst, trash)
        os.replace(src, dst)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(src, dst)


def open_complete_group(path: str | os.PathLike, *, mode: str = "r") -> zarr.Group:
    """Open a prismtools store, refusing one that is missing, foreign or incomplete."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No zarr store at {str(path)!r}. Create one with `pt.io.write(adata, path)`.")
    try:
        group = zarr.open_group(str(path), mode=mode)
    except Exception as err:  # noqa: BLE001
        raise ValueError(f"{str(path)!r} is not a readable zarr store ({err}).") from err
    status = get_status(group)
    if status is None:
        if "obs" in group and "var" in group:
            return group  # a plain AnnData zarr store (written by anndata): fine to read
        raise ValueError(f"{str(path)!r} is a zarr store but not an AnnData/prismtools dataset (no obs/var).")
    if status != COMPLETE:
        raise IncompleteStoreError(
            f"The store {str(path)!r} is incomplete: it was interrupted during '{status.removeprefix('writing: ')}'. "
            "Its contents cannot be trusted. Rebuild it (or rerun that step on the AnnData you built it from)."
        )
    return group


def read(path: str | os.PathLike, *, lazy: bool = True) -> AnnData:
    """Read a store written by :func:`write` (or by the ``pp.add_*`` builders with ``store=``).

    Parameters
    ----------
    path
        The zarr store.
    lazy
        Open ``obsm["sequence"]``, ``obsm["tracks"]`` and other large ``obsm`` arrays as dask arrays over the
        zarr chunks (nothing large is read until used). ``False`` loads everything.

    Returns
    -------
    AnnData whose ``obs``, ``var``, ``X``, ``layers`` and ``uns`` are in memory and whose large ``obsm`` arrays
    are lazy dask arrays chunked by genes.
    """
    group = open_complete_group(path)
    parts = {}
    for key in ("X", "obs", "var", "uns", "layers", "obsp", "varm", "varp"):
        if key in group:
            parts[key] = read_elem(group[key])
    obsm = {}
    if "obsm" in group:
        for key, node in group["obsm"].members():
            if lazy and isinstance(node, zarr.Array) and (key in LAZY_OBSM or node.nbytes >= LAZY_MIN_BYTES):
                obsm[key] = da.from_zarr(node, chunks=node.chunks)
            else:
                obsm[key] = read_elem(node)
    adata = AnnData(**parts, obsm=obsm)
    _normalise_uns(adata)
    return adata


def _normalise_uns(adata: AnnData) -> None:
    """Undo storage round-trip artefacts in ``uns["prism"]`` (string arrays back to lists)."""
    prism = adata.uns.get("prism")
    if isinstance(prism, dict) and "covariates" in prism:
        prism["covariates"] = [str(x) for x in np.asarray(prism["covariates"]).ravel()]
