"""Incremental writes into a prismtools zarr store by the ``pp.add_*`` builders.

A builder given ``store=`` streams its output chunk by chunk into the store, so a dataset far larger than memory
(20,000 genes x 200 kb x 3 tracks is about 48 GB of float32) is built on a small machine. While a builder
writes, the store's status is ``"writing: <operation>"``; it becomes ``"complete"`` only after the data and the
metadata (``obs``, ``var``, ``X``, ``uns``, ...) are all in place. A failed write is rolled back when it can be
(new tracks are truncated away, a replaced sequence array is staged and swapped in only when finished); when it
cannot (the process was killed), the status stays ``"writing: ..."`` and :func:`prismtools.io.read` refuses it.
"""

from __future__ import annotations

import logging
import os
import shutil
import warnings
from contextlib import contextmanager
from pathlib import Path

import anndata as ad
import dask.array as da
import numpy as np
import pandas as pd
import zarr
from anndata import AnnData
from anndata.io import read_elem, write_elem

from ._zarr import COMPLETE, LAZY_OBSM, create_gene_array, get_status, open_complete_group, set_status, write

logger = logging.getLogger(__name__)


class BuildStore:
    """A store that builders append to. Created from ``adata`` (atomically) when ``path`` does not exist."""

    def __init__(self, path: str | os.PathLike, adata: AnnData):
        self.path = Path(path)
        if not self.path.exists():
            write(adata, self.path)
        self.group = open_complete_group(self.path, mode="r+")
        obs_names = read_elem(self.group["obs"]).index
        if not obs_names.equals(adata.obs_names):
            raise ValueError(
                f"The store {str(self.path)!r} holds {len(obs_names)} genes that differ from this AnnData's "
                f"{adata.n_obs} (or their order differs). Use a new store path, or reopen it with pt.io.read()."
            )

    def array(self, key: str) -> zarr.Array | None:
        node = self.group.get(f"obsm/{key}")
        return node if isinstance(node, zarr.Array) else None

    def lazy(self, key: str) -> da.Array:
        arr = self.array(key)
        return da.from_zarr(arr, chunks=arr.chunks)

    def _dir(self, key: str) -> Path:
        return self.path / "obsm" / key

    @contextmanager
    def transaction(self, operation: str, adata: AnnData):
        """Mark the store as being written; on success sync metadata from ``adata`` and mark it complete."""
        set_status(self.group, f"writing: {operation}")
        try:
            yield self
        except BaseException:
            logger.error("%s failed; the store %s is marked incomplete unless rolled back.", operation, self.path)
            raise
        self.sync_metadata(adata)
        set_status(self.group, COMPLETE)

    def sync_metadata(self, adata: AnnData) -> None:
        """Rewrite everything but the large ``obsm`` arrays from ``adata``."""
        with warnings.catch_warnings(), ad.settings.override(zarr_write_format=3):
            warnings.filterwarnings("ignore", message=".*autosharding.*", category=UserWarning)
            write_elem(self.group, "X", np.asarray(adata.X) if adata.X is not None else np.zeros((adata.n_obs, adata.n_vars), np.float32))
            for key in ("obs", "var", "uns", "layers"):
                val = getattr(adata, key)
                write_elem(self.group, key, val if isinstance(val, pd.DataFrame) else dict(val))
            obsm = self.group.require_group("obsm")
            for key, val in adata.obsm.items():
                if key in LAZY_OBSM or isinstance(val, da.Array):
                    continue
                write_elem(obsm, key, np.asarray(val))

    # -- the two kinds of large array -------------------------------------------------------------------
    def append_track(self, block: da.Array, *, chunk_genes: int, compute_kwargs: dict) -> int:
        """Append one track (dask array, n_genes x n_bins) to ``obsm/tracks``; return its index."""
        arr = self.array("tracks")
        n_genes, n_bins = block.shape
        if arr is None:
            arr = create_gene_array(self.group.require_group("obsm"), "tracks", (n_genes, 0, n_bins), np.float32,
                                    chunk_genes=chunk_genes)
        if arr.shape[0] != n_genes or arr.shape[2] != n_bins:
            raise ValueError(f"Store track array has shape {arr.shape}, cannot append a track of {block.shape}.")
        t = arr.shape[1]
        arr.resize((n_genes, t + 1, n_bins))
        try:
            da.store(block[:, None, :], arr, regions=(slice(None), slice(t, t + 1), slice(None)), lock=False,
                     compute=True, **compute_kwargs)
        except BaseException:
            try:
                arr.resize((n_genes, t, n_bins))
                set_status(self.group, COMPLETE)
                logger.info("rolled back the partial track in %s", self.path)
            except Exception:  # noqa: BLE001
                pass
            raise
        return t

    def replace_array(self, key: str, block: da.Array, *, chunk_genes: int, compute_kwargs: dict) -> None:
        """Write ``block`` as ``obsm/<key>`` via a staging array swapped in only when complete."""
        obsm = self.group.require_group("obsm")
        staging = f"staging__{key}"
        arr = create_gene_array(obsm, staging, block.shape, block.dtype, chunk_genes=chunk_genes)
        try:
            da.store(block, arr, lock=False, compute=True, **compute_kwargs)
        except BaseException:
            shutil.rmtree(self._dir(staging), ignore_errors=True)
            set_status(self.group, COMPLETE)
            raise
        final = self._dir(key)
        if final.exists():
            shutil.rmtree(final)
        os.replace(self._dir(staging), final)
        self.group = zarr.open_group(str(self.path), mode="r+")
