"""Transactions on a prismtools store: how the ``pp.add_*`` builders append to it without ever losing data.

A builder given ``store=`` streams its output chunk by chunk into the store, so a dataset far larger than memory
(20,000 genes x 200 kb x 3 tracks is about 48 GB of float32) is built on a small machine. Each builder step is one
transaction under the store's write lock (:mod:`prismtools.io._lock`; a second writer waits, then fails naming
the holder):

1. **Out of place.** New data never overwrites committed data. A new track is written as a staging array in
   ``<store>/.prismtools/txn-<id>/`` (a hidden folder that is no zarr node, so zarr and anndata do not see it)
   with the same codecs and chunking as ``obsm/tracks``; its chunk files (one track per chunk) are then moved to
   the track index *after* the last committed one. The committed ``obsm/tracks/zarr.json`` still has the old
   shape, so no reader ever reads them. A replaced array (``obsm/sequence``) is staged whole. The metadata
   (``X``, ``obs``, ``var``, ``uns`` with the track table, ``layers``, small ``obsm``) is written with
   :func:`anndata.io.write_elem` into the staging folder.
2. **Commit point.** One atomic rewrite of the root ``zarr.json``: the commit record (``attrs["prismtools"]``)
   gets the new array shapes and chunk counts, ``generation + 1``, and a ``pending`` list of the moves that
   install the staged elements.
3. **Apply.** Each staged element is moved into place (the old one to a trash folder first), the track array's
   ``zarr.json`` is rewritten with its new shape, and ``pending`` is cleared. Every move is idempotent.

A crash before the commit point leaves the previous state untouched (the staging folder and any chunk files beyond
the committed shape are removed by the next writer and listed by ``prismtools info``); a crash after it is rolled
forward by the next reader or writer (:func:`apply_pending`). Readers (:func:`prismtools.io.read`) take no lock:
they read the commit record before and after reading the metadata and retry if it changed, and wait while a
``pending`` commit is being applied, so they always see one committed state.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path

import dask.array as da
import numpy as np
import zarr
from anndata import AnnData
from anndata.io import read_elem

from ._atomic import atomic_path
from ._lock import store_lock
from ._zarr import (
    COMPLETE, LAZY_OBSM, META_DIR, STATUS_ATTR, _is_large, array_record, count_chunk_files, create_gene_array,
    lazy_array, open_complete_group, root_meta, set_status, write, write_metadata,
)

logger = logging.getLogger(__name__)

_ELEMENTS = ("X", "obs", "var", "uns", "layers", "obsp", "varm", "varp")


def _write_json_atomic(path: Path, data: dict) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2))


def apply_pending(path: Path) -> None:
    """Install the staged elements of a committed transaction (idempotent; call under the write lock)."""
    path = Path(path)
    meta = root_meta(path)
    pend = (meta or {}).get("pending")
    if not pend:
        return
    trash = path / META_DIR / f"trash-{pend['txn']}"
    for src, dst in pend["moves"]:
        s, d = path / src, path / dst
        if not s.exists():
            continue  # moved already
        if d.exists():
            t = trash / dst
            t.parent.mkdir(parents=True, exist_ok=True)
            if t.exists():
                shutil.rmtree(d) if d.is_dir() else d.unlink()
            else:
                os.replace(d, t)
        d.parent.mkdir(parents=True, exist_ok=True)
        os.replace(s, d)
    for name, shape in (pend.get("resize") or {}).items():
        zj = path / name / "zarr.json"
        data = json.loads(zj.read_text())
        if data["shape"] != shape:
            data["shape"] = shape
            _write_json_atomic(zj, data)
    group = zarr.open_group(str(path), mode="r+")
    set_status(group, COMPLETE, pending=None)
    shutil.rmtree(path / META_DIR / f"txn-{pend['txn']}", ignore_errors=True)
    shutil.rmtree(trash, ignore_errors=True)
    _drop_meta_dir(path)


def _drop_meta_dir(path: Path) -> None:
    """Remove the staging folder when empty (zarr warns about a non-zarr folder in the hierarchy)."""
    try:
        (Path(path) / META_DIR).rmdir()
    except OSError:
        pass


def _chunk_files(arr_dir: Path):
    root = arr_dir / "c"
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            p = Path(dirpath) / f
            try:
                yield p, tuple(int(x) for x in p.relative_to(root).parts)
            except ValueError:
                continue


def orphan_chunks(path: Path) -> list[Path]:
    """Chunk files beyond the committed shape of an array (left by a writer killed before its commit)."""
    out = []
    for name, rec in ((root_meta(path) or {}).get("arrays") or {}).items():
        grid = [-(-int(s) // int(c)) for s, c in zip(rec["shape"], rec["chunks"])]
        out += [p for p, idx in _chunk_files(path / name)
                if len(idx) == len(grid) and any(i >= g for i, g in zip(idx, grid))]
    return out


def internal_leftovers(path: Path) -> list[Path]:
    """Staging folders and orphan chunk files inside a store that no committed state refers to."""
    meta_dir = Path(path) / META_DIR
    pend = (root_meta(path) or {}).get("pending")
    keep = {f"txn-{pend['txn']}", f"trash-{pend['txn']}"} if pend else set()
    staged = sorted(p for p in meta_dir.iterdir() if p.name not in keep) if meta_dir.is_dir() else []
    return staged + orphan_chunks(Path(path))


def clean_leftovers(path: Path) -> None:
    for p in internal_leftovers(path):
        logger.info("removing %s, left by an interrupted transaction on %s", p, path)
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
    _drop_meta_dir(path)


class BuildStore:
    """A store that builders append to. Created from ``adata`` (atomically) when ``path`` does not exist.

    Use :meth:`transaction` for every change; inside it, :meth:`append_track` / :meth:`replace_array` stage data
    and the transaction commits the metadata of ``adata`` with it when the block ends without error.
    """

    def __init__(self, path: str | os.PathLike, adata: AnnData):
        self.path = Path(path).absolute()
        self._txn: dict | None = None
        if not self.path.exists():
            with store_lock(self.path, "create store"):
                if not self.path.exists():
                    write(adata, self.path)
        group = open_complete_group(self.path)
        obs_names = read_elem(group["obs"]).index
        if not obs_names.equals(adata.obs_names):
            raise ValueError(
                f"The store {str(self.path)!r} holds {len(obs_names)} genes that differ from this AnnData's "
                f"{adata.n_obs} (or their order differs). Use a new store path, or reopen it with pt.io.read()."
            )

    @property
    def group(self) -> zarr.Group:
        return zarr.open_group(str(self.path), mode="r")

    def array(self, key: str) -> zarr.Array | None:
        node = self.group.get(f"obsm/{key}")
        return node if isinstance(node, zarr.Array) else None

    def lazy(self, key: str) -> da.Array:
        return lazy_array(self.path, f"obsm/{key}", self.array(key))

    def n_committed(self, key: str, axis: int = 1) -> int:
        """Length of ``obsm/<key>`` along ``axis`` in the last committed state (0 if absent)."""
        rec = ((root_meta(self.path) or {}).get("arrays") or {}).get(f"obsm/{key}")
        if rec is not None:
            return int(rec["shape"][axis])
        arr = self.array(key)
        return 0 if arr is None else int(arr.shape[axis])

    @contextmanager
    def transaction(self, operation: str, adata: AnnData):
        """One transaction under the write lock: commit ``adata``'s metadata and the staged arrays on success.

        On any error (or ``KeyboardInterrupt``) nothing is committed and the store stays as it was; a killed
        process leaves the last committed state readable (see the module docstring).
        """
        if self._txn is not None:
            raise RuntimeError("BuildStore transactions do not nest.")
        with store_lock(self.path, operation):
            apply_pending(self.path)
            open_complete_group(self.path)  # refuses an incomplete/newer store before anything is written
            clean_leftovers(self.path)
            tid = uuid.uuid4().hex[:12]
            staging = self.path / META_DIR / f"txn-{tid}"
            staging.mkdir(parents=True)
            meta = root_meta(self.path) or {}
            self._txn = {"id": tid, "dir": staging, "moves": [], "resize": {}, "arrays": dict(meta.get("arrays") or {}),
                         "operation": operation}
            try:
                yield self
                self._commit(adata)
            except BaseException:
                logger.error("%s failed; nothing was committed to %s (it holds its previous state).", operation,
                             self.path)
                shutil.rmtree(staging, ignore_errors=True)
                try:
                    clean_leftovers(self.path)
                except OSError:
                    pass
                raise
            finally:
                self._txn = None

    def sync_metadata(self, adata: AnnData) -> None:
        """Commit everything but the large ``obsm`` arrays from ``adata`` (a transaction of its own)."""
        with self.transaction("sync metadata", adata):
            pass

    def _rel(self, p: Path) -> str:
        return str(p.relative_to(self.path))

    def _commit(self, adata: AnnData) -> None:
        txn = self._txn
        meta_dir = txn["dir"] / "meta"
        group = zarr.open_group(str(meta_dir), mode="w", zarr_format=3)
        large = [k for k, v in adata.obsm.items() if k in LAZY_OBSM or _is_large(v)]
        write_metadata(group, adata, skip_obsm=large)
        for key in _ELEMENTS:
            if (meta_dir / key).exists():
                txn["moves"].append([self._rel(meta_dir / key), key])
        for key in adata.obsm:
            if key not in large:
                txn["moves"].append([self._rel(meta_dir / "obsm" / key), f"obsm/{key}"])
        old = root_meta(self.path) or {}
        pending = {"txn": txn["id"], "operation": txn["operation"], "moves": txn["moves"], "resize": txn["resize"]}
        root = zarr.open_group(str(self.path), mode="r+")
        # the commit point: one atomic rewrite of the root zarr.json
        set_status(root, COMPLETE, arrays=txn["arrays"], generation=int(old.get("generation", 0)) + 1,
                   pending=pending)
        apply_pending(self.path)

    # -- the two kinds of large array -------------------------------------------------------------------
    def append_track(self, block: da.Array, *, chunk_genes: int, compute_kwargs: dict) -> int:
        """Stage one track (dask array, n_genes x n_bins) for ``obsm/tracks``; return its index."""
        txn = self._txn
        if txn is None:
            raise RuntimeError("BuildStore.append_track must run inside a transaction().")
        arr = self.array("tracks")
        n_genes, n_bins = block.shape
        name = "obsm/tracks"
        if arr is None:
            staged = create_gene_array(zarr.open_group(str(txn["dir"] / "new"), mode="a", zarr_format=3), "tracks",
                                       (n_genes, 1, n_bins), np.float32, chunk_genes=chunk_genes)
            da.store(block[:, None, :], staged, lock=False, compute=True, **compute_kwargs)
            txn["moves"].append([self._rel(txn["dir"] / "new" / "tracks"), name])
            txn["arrays"][name] = array_record(staged)
            return 0
        t = self.n_committed("tracks")
        if arr.shape[0] != n_genes or arr.shape[2] != n_bins:
            raise ValueError(f"The track array of {str(self.path)!r} has shape {arr.shape}; cannot append a track "
                             f"of {block.shape}.")
        # a one-track array with exactly the codecs/chunks of obsm/tracks, whose chunk files we then move over
        arr_dir = self.path / name
        stage_dir = txn["dir"] / "track"
        stage_dir.mkdir()
        spec = json.loads((arr_dir / "zarr.json").read_text())
        spec["shape"] = [n_genes, 1, n_bins]
        (stage_dir / "zarr.json").write_text(json.dumps(spec))
        staged = zarr.open_array(str(stage_dir), mode="r+", config={"write_empty_chunks": True})
        da.store(block[:, None, :].astype(staged.dtype), staged, lock=False, compute=True, **compute_kwargs)
        per_track = 0
        for p, idx in list(_chunk_files(stage_dir)):
            dst = arr_dir / "c" / str(idx[0]) / str(t) / str(idx[2])
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(p, dst)  # beyond the committed shape: invisible until the commit
            per_track += 1
        rec = txn["arrays"].get(name)
        before = rec["n_chunks"] if rec else count_chunk_files(arr_dir, arr.shape[:1] + (t,) + arr.shape[2:],
                                                               arr.chunks)
        shape = [n_genes, t + 1, n_bins]
        txn["resize"][name] = shape
        txn["arrays"][name] = {"shape": shape, "chunks": list(arr.chunks), "n_chunks": before + per_track}
        return t

    def replace_array(self, key: str, block: da.Array, *, chunk_genes: int, compute_kwargs: dict) -> None:
        """Stage ``block`` as ``obsm/<key>``; it replaces the current one at the commit."""
        txn = self._txn
        if txn is None:
            raise RuntimeError("BuildStore.replace_array must run inside a transaction().")
        group = zarr.open_group(str(txn["dir"] / "new"), mode="a", zarr_format=3)
        arr = create_gene_array(group, key, block.shape, block.dtype, chunk_genes=chunk_genes)
        da.store(block, arr, lock=False, compute=True, **compute_kwargs)
        txn["moves"].append([self._rel(txn["dir"] / "new" / key), f"obsm/{key}"])
        txn["arrays"][f"obsm/{key}"] = array_record(arr)


__all__ = ["BuildStore", "apply_pending", "internal_leftovers", "STATUS_ATTR"]
