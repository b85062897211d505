"""One zarr store per dataset: safe writes, checked lazy reads of the large ``obsm`` arrays.

The store is a plain AnnData zarr (v3) store (``anndata.read_zarr`` opens it eagerly) plus a root attribute
``prismtools`` holding the *commit record*::

    {"status": "complete", "format_version": 2, "version": "<prismtools>", "generation": 7,
     "arrays": {"obsm/tracks": {"shape": [...], "chunks": [...], "n_chunks": 939}, ...},
     "pending": null}

- The large gene-chunked arrays (``obsm/sequence``, ``obsm/tracks``) are written with every chunk present
  (``write_empty_chunks``) and a ``crc32c`` checksum codec, and their chunk-file count is recorded, so a missing
  chunk file is detected (zarr would read it as zeros) and a corrupted one fails its checksum.
- :func:`write` writes a complete new store in a hidden sibling directory and swaps it into place (an atomic
  directory exchange on Linux), under the store's write lock. It replaces only an existing *store*, and only with
  ``overwrite=True``; it never deletes a folder of other files or a regular file.
- :func:`read` reads a consistent snapshot (it retries if a writer committed meanwhile), refuses incomplete,
  newer-format or damaged stores with a message naming the store and the fix, and opens the large arrays as dask
  arrays that fail loudly (:class:`StaleStoreError`) if their store is replaced underneath them.
- Appending to a store (``store=`` builders) is a transaction; see :mod:`prismtools.io._buildstore`.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
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
from ._atomic import atomic_path, replace_path
from ._errors import CorruptStoreError, IncompleteStoreError, StaleStoreError, StoreError, StoreVersionError
from ._lock import is_locked, store_lock

logger = logging.getLogger(__name__)

STATUS_ATTR = "prismtools"
COMPLETE = "complete"
#: 2: commit record with array manifest, crc32c checksums, transactions. Stores of a newer format are refused.
FORMAT_VERSION = 2
#: obsm arrays that are stored chunked by genes and opened lazily.
LAZY_OBSM = ("sequence", "tracks")
LAZY_MIN_BYTES = 64 * 2**20
#: switched off only by ``benchmarks/bench_store.py`` to measure the checksums' cost
_CHECKSUMS = True
META_DIR = ".prismtools"  # transaction staging inside a store (not a zarr node: invisible to zarr and anndata)


def _version() -> str:
    from .. import __version__

    return __version__


# -- the commit record ------------------------------------------------------------------------------------
def root_meta(path: str | os.PathLike) -> dict | None:
    """The store's ``prismtools`` root attribute, read straight from ``zarr.json`` (``None`` if absent)."""
    try:
        with open(Path(path) / "zarr.json") as fh:
            return json.load(fh).get("attributes", {}).get(STATUS_ATTR)
    except FileNotFoundError:
        return None


def set_status(group: zarr.Group, status: str, **fields) -> None:
    """Write the commit record (one atomic rewrite of the root ``zarr.json``)."""
    old = dict(group.attrs.get(STATUS_ATTR) or {})
    meta = {"status": status, "format_version": FORMAT_VERSION, "version": _version(),
            "generation": int(old.get("generation", 0)), "arrays": old.get("arrays", {}), "pending": None}
    meta.update(fields)
    group.attrs[STATUS_ATTR] = meta


def get_status(group: zarr.Group) -> str | None:
    meta = group.attrs.get(STATUS_ATTR)
    return None if meta is None else str(meta.get("status"))


# -- gene-chunked arrays ----------------------------------------------------------------------------------
def gene_chunks(shape: tuple[int, ...], chunk_genes: int | None = None, max_positions: int = 65_536) -> tuple:
    """Chunk shape for a gene-major array: ``chunk_genes`` genes, one track, up to ``max_positions`` positions."""
    cg = int(chunk_genes or settings.chunk_genes)
    cg = max(1, min(cg, shape[0] or 1))
    if len(shape) == 3:
        return (cg, 1, max(1, min(shape[2], max_positions)))
    if len(shape) == 2:
        return (cg, max(1, min(shape[1], max_positions * 4)))
    return (cg,)


def _codecs() -> dict:
    comp = [zarr.codecs.ZstdCodec(level=0)]
    if _CHECKSUMS:
        comp.append(zarr.codecs.Crc32cCodec())
    return {"compressors": comp}


def create_gene_array(group: zarr.Group, name: str, shape, dtype, *, chunk_genes=None, chunks=None,
                      fill_value=0) -> zarr.Array:
    """Create an AnnData-encoded dense array chunked by genes, checksummed, with every chunk written."""
    shape = tuple(int(s) for s in shape)
    arr = group.create_array(
        name, shape=shape, dtype=dtype, chunks=tuple(chunks or gene_chunks(shape, chunk_genes)),
        fill_value=fill_value, overwrite=True, config={"write_empty_chunks": True}, **_codecs(),
    )
    arr.attrs.update({"encoding-type": "array", "encoding-version": "0.2.0"})
    return arr


def n_chunks(shape, chunks) -> int:
    return int(np.prod([-(-int(s) // int(c)) for s, c in zip(shape, chunks)])) if all(shape) else 0


def array_record(arr: zarr.Array) -> dict:
    return {"shape": list(arr.shape), "chunks": list(arr.chunks), "n_chunks": n_chunks(arr.shape, arr.chunks)}


def count_chunk_files(arr_dir: Path, shape, chunks) -> int:
    """Chunk files of the array at ``arr_dir`` that lie inside ``shape`` (one directory walk)."""
    grid = [-(-int(s) // int(c)) for s, c in zip(shape, chunks)]
    root = arr_dir / "c"
    n = 0
    for dirpath, _dirs, files in os.walk(root):
        rel = Path(dirpath).relative_to(root).parts
        try:
            head = [int(p) for p in rel]
        except ValueError:
            continue
        if len(head) != len(grid) - 1 or any(h >= g for h, g in zip(head, grid)):
            continue
        n += sum(1 for f in files if f.isdigit() and int(f) < grid[-1])
    return n


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


# -- what may be replaced ---------------------------------------------------------------------------------
def is_store(path: Path) -> bool:
    """Whether ``path`` is a zarr store holding an AnnData/prismtools dataset (the only thing we ever replace)."""
    if not path.is_dir():
        return False
    if (path / "zarr.json").is_file():
        try:
            meta = json.loads((path / "zarr.json").read_text())
        except (OSError, ValueError):
            return False
        attrs = meta.get("attributes", {})
        return meta.get("node_type") == "group" and (
            STATUS_ATTR in attrs or attrs.get("encoding-type") == "anndata"
            or ((path / "obs").is_dir() and (path / "var").is_dir()))
    if (path / ".zgroup").is_file():  # zarr v2 AnnData store
        return (path / "obs").is_dir() and (path / "var").is_dir()
    return False


def _check_target(path: Path, overwrite: bool) -> None:
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        raise FileExistsError(
            f"{str(path)!r} exists and is a file (or link), not a zarr store; pt.io.write never replaces it. "
            "Choose another path, or move that file away yourself."
        )
    if path.is_dir() and any(path.iterdir()):
        if not is_store(path):
            raise FileExistsError(
                f"{str(path)!r} is a folder that is not a prismtools/AnnData zarr store; pt.io.write never deletes "
                "it (not even with overwrite=True). Choose another path."
            )
        if not overwrite:
            raise FileExistsError(
                f"A store already exists at {str(path)!r}; pass overwrite=True to replace it (or write elsewhere)."
            )


def sibling_leftovers(path: Path) -> list[Path]:
    """Hidden siblings left by interrupted writes/builds of ``path`` (``.name.tmp-*``, ``.old-*``, ``.build-*``)."""
    path = Path(path).absolute()
    if not path.parent.is_dir():
        return []
    pre = f".{path.name}."
    return sorted(p for p in path.parent.iterdir() if p.name.startswith(pre)
                  and p.name[len(pre):].split("-")[0] in ("tmp", "old", "build"))


def _clean_siblings(path: Path) -> None:
    """Remove ``.name.tmp-*``/``.old-*`` of writers that died (called under the lock, so none is running)."""
    for p in sibling_leftovers(path):
        if p.name[len(path.name) + 2:].startswith(("tmp-", "old-")):
            logger.info("removing %s, left by an interrupted write", p)
            shutil.rmtree(p, ignore_errors=True)


def write(adata: AnnData, path: str | os.PathLike, *, chunk_genes: int | None = None, overwrite: bool = False,
          lock_timeout: float | None = None) -> None:
    """Write ``adata`` to one zarr store, atomically.

    The store is written into a hidden sibling directory (``.<name>.tmp-*``) under the store's write lock and
    swapped into place only once complete, so an interrupted write never leaves a store at ``path`` that reads as
    complete, and an existing store is replaced only by a complete one. Lazy (dask) arrays are streamed chunk by
    chunk; ``adata`` may be (a view of) an AnnData read lazily from ``path`` itself: its data is copied into the
    new store before the old one is removed. Lazy arrays still open on the *old* store then raise
    :class:`~prismtools.io.StaleStoreError` instead of reading the new one; read the store again.

    Parameters
    ----------
    adata
        The AnnData to write. ``obsm["sequence"]`` and ``obsm["tracks"]`` (and any dask-backed or large array) are
        stored chunked by genes, with crc32c checksums, so that :func:`read` can open them lazily.
    path
        Destination directory (conventionally ``*.zarr``).
    chunk_genes
        Genes per chunk (default ``pt.settings.chunk_genes``).
    overwrite
        ``False`` (default): refuse if ``path`` exists. ``True``: replace it if it is a zarr store holding an
        AnnData/prismtools dataset. A folder of other files or a regular file is never deleted, whatever this is.
        An empty folder is used as if it did not exist.
    lock_timeout
        Seconds to wait for another writer of the same store (default ``pt.settings.store_lock_timeout``, 600 s);
        then :class:`~prismtools.io.StoreLockedError`.

    Raises
    ------
    FileExistsError
        ``path`` exists and ``overwrite`` is ``False``, or ``path`` is not a store (never replaced).

    Examples
    --------
    >>> import prismtools as pt
    >>> adata = pt.datasets.toy(n_genes=16, width=64)
    >>> pt.io.write(adata, "written.zarr")
    >>> try:
    ...     pt.io.write(adata, "written.zarr")
    ... except FileExistsError:
    ...     print("exists: pass overwrite=True to replace it")
    exists: pass overwrite=True to replace it
    >>> pt.io.write(adata[:8], "written.zarr", overwrite=True)
    >>> pt.io.read("written.zarr").n_obs
    8
    """
    path = Path(path).absolute()
    _check_target(path, overwrite)
    with store_lock(path, "pt.io.write", timeout=lock_timeout):
        _check_target(path, overwrite)  # again, now that no other writer runs
        _clean_siblings(path)
        with atomic_path(path, kind="tmp") as tmp:
            _write_group(adata, tmp, chunk_genes=chunk_genes)
    logger.info("wrote %s (%d genes x %d samples)", path, adata.n_obs, adata.n_vars)


def check_target(path: str | os.PathLike, overwrite: bool) -> None:
    """Raise ``FileExistsError`` unless a store may be written at ``path`` (the rules of :func:`write`)."""
    _check_target(Path(path).absolute(), overwrite)


def install_store(src: str | os.PathLike, path: str | os.PathLike, *, overwrite: bool = False) -> None:
    """Move the complete store ``src`` (built privately, e.g. a hidden sibling) to ``path``, under ``path``'s lock,
    with the rules of :func:`write`: an existing store is replaced only with ``overwrite=True``, nothing else ever."""
    from ._lock import lock_path

    src, path = Path(src).absolute(), Path(path).absolute()
    with store_lock(path, "install store"):
        _check_target(path, overwrite)
        _clean_siblings(path)
        replace_path(src, path)
    lock_path(src).unlink(missing_ok=True)  # the private build's lock file


def write_metadata(group: zarr.Group, adata: AnnData, *, skip_obsm=()) -> None:
    """Write every element but the large arrays with :func:`anndata.io.write_elem`."""
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
            if key in skip_obsm:
                continue
            write_elem(obsm, key, np.asarray(val) if not isinstance(val, pd.DataFrame) else val)


def _write_group(adata: AnnData, path: Path, *, chunk_genes=None) -> None:
    group = zarr.open_group(str(path), mode="w", zarr_format=3)
    set_status(group, "writing: pt.io.write")
    group.attrs.update({"encoding-type": "anndata", "encoding-version": "0.1.0"})
    large = [k for k, v in adata.obsm.items() if k in LAZY_OBSM or _is_large(v)]
    write_metadata(group, adata, skip_obsm=large)
    obsm = group["obsm"]
    arrays = {}
    for key in large:
        val = adata.obsm[key]
        val = val if isinstance(val, da.Array) else np.asarray(val)
        arr = create_gene_array(obsm, key, val.shape, val.dtype, chunk_genes=chunk_genes)
        store_array(val, arr)
        arrays[f"obsm/{key}"] = array_record(arr)
    set_status(group, COMPLETE, arrays=arrays, generation=1)


# -- reading ----------------------------------------------------------------------------------------------
def _check_meta(path: Path, meta: dict | None) -> None:
    if meta is None:
        return
    fv = int(meta.get("format_version", 1))
    if fv > FORMAT_VERSION:
        raise StoreVersionError(
            f"The store {str(path)!r} has format version {fv} (written by prismtools {meta.get('version')}); this "
            f"prismtools ({_version()}) reads format {FORMAT_VERSION} and older. Upgrade prismtools "
            "(pip install -U prismtools) to read it."
        )
    status = str(meta.get("status"))
    if status != COMPLETE:
        raise IncompleteStoreError(
            f"The store {str(path)!r} is incomplete: it was interrupted during '{status.removeprefix('writing: ')}'. "
            "Its contents cannot be trusted. Rebuild it (or rerun that step on the AnnData you built it from)."
        )


def check_chunks(path: Path, meta: dict | None) -> None:
    """Every array of the commit record has all its chunk files (zarr would read a missing one as zeros)."""
    for name, rec in ((meta or {}).get("arrays") or {}).items():
        arr_dir = path / name
        if not (arr_dir / "zarr.json").is_file():
            raise CorruptStoreError(
                f"The store {str(path)!r} lacks the array {name!r} that its commit record lists (files deleted or "
                "an incomplete copy). Copy the store again from its source, or rebuild it."
            )
        have = count_chunk_files(arr_dir, rec["shape"], rec["chunks"])
        if have != rec["n_chunks"]:
            raise CorruptStoreError(
                f"The store {str(path)!r} is damaged: the array {name!r} has {have} of its {rec['n_chunks']} chunk "
                "files (some were deleted, or a copy/sync was interrupted); the missing ones would read as zeros. "
                "Copy the store again from its source, or rebuild it. `prismtools info --verify` checks it fully."
            )


def recover(path: Path, *, timeout: float | None = None) -> None:
    """Finish a commit that a killed writer left half-applied (under the write lock)."""
    from ._buildstore import apply_pending

    with store_lock(path, "recover", timeout=timeout):
        meta = root_meta(path)
        if meta and meta.get("pending"):
            apply_pending(path)


def open_complete_group(path: str | os.PathLike, *, mode: str = "r") -> zarr.Group:
    """Open a prismtools store, refusing one that is missing, foreign, incomplete, newer or mid-commit."""
    path = Path(path)
    if not path.exists():
        old = [p for p in sibling_leftovers(path) if ".old-" in p.name]
        hint = (f" An interrupted pt.io.write left the previous store at {str(old[0])!r}; rename it back."
                if old else " Create one with `pt.io.write(adata, path)`.")
        raise FileNotFoundError(f"No zarr store at {str(path)!r}.{hint}")
    meta = root_meta(path)
    if meta and meta.get("pending"):
        try:
            recover(path)
        except PermissionError as err:
            raise IncompleteStoreError(
                f"The store {str(path)!r} holds a commit that its writer did not finish, and this process may not "
                f"write to it ({err}). Open it once with write permission (e.g. `prismtools info {path}`)."
            ) from err
        meta = root_meta(path)
    try:
        group = zarr.open_group(str(path), mode=mode)
    except Exception as err:  # noqa: BLE001
        raise ValueError(f"{str(path)!r} is not a readable zarr store ({err}).") from err
    if meta is None:
        if "obs" in group and "var" in group:
            return group  # a plain AnnData zarr store (written by anndata): fine to read
        raise ValueError(f"{str(path)!r} is a zarr store but not an AnnData/prismtools dataset (no obs/var).")
    _check_meta(path, meta)
    return group


class _GuardedArray:
    """A zarr array that refuses to read once its directory was replaced (another store now lives there)."""

    def __init__(self, arr: zarr.Array, arr_dir: Path, store: Path):
        self.arr, self.arr_dir, self.store = arr, str(arr_dir), str(store)
        self.ino = os.stat(arr_dir).st_ino
        self.shape, self.dtype, self.ndim, self.chunks = arr.shape, arr.dtype, arr.ndim, arr.chunks

    def __getitem__(self, key):
        try:
            same = os.stat(self.arr_dir).st_ino == self.ino
        except FileNotFoundError:
            same = False
        if not same:
            raise StaleStoreError(
                f"The store {self.store!r} was replaced (or its array {self.arr_dir!r} rewritten) after this lazy "
                "AnnData was read from it, so its data is gone. Read it again with pt.io.read(); to keep data "
                "across a rewrite of the same path, load it first (pt.io.read(path, lazy=False) or .compute())."
            )
        try:
            return self.arr[key]
        except ValueError as err:
            if "checksum" in str(err):
                raise CorruptStoreError(
                    f"A chunk of {self.arr_dir!r} failed its checksum: the store {self.store!r} is damaged. Copy it "
                    "again from its source, or rebuild it."
                ) from err
            raise


def lazy_array(path: Path, name: str, node: zarr.Array) -> da.Array:
    return da.from_array(_GuardedArray(node, path / name, path), chunks=node.chunks, lock=False, asarray=True,
                         name=f"prismtools-{name.replace('/', '-')}-{uuid.uuid4().hex[:8]}",
                         meta=np.empty((0,) * node.ndim, dtype=node.dtype))


def _read_once(path: Path, lazy: bool) -> AnnData:
    group = open_complete_group(path)
    meta = root_meta(path)
    check_chunks(path, meta)
    parts = {}
    for key in ("X", "obs", "var", "uns", "layers", "obsp", "varm", "varp"):
        if key in group:
            parts[key] = read_elem(group[key])
    obsm = {}
    if "obsm" in group:
        for key, node in group["obsm"].members():
            rec = ((meta or {}).get("arrays") or {}).get(f"obsm/{key}")
            if rec is not None and list(node.shape) != rec["shape"]:
                raise _Changed()
            if lazy and isinstance(node, zarr.Array) and (key in LAZY_OBSM or node.nbytes >= LAZY_MIN_BYTES):
                obsm[key] = lazy_array(path, f"obsm/{key}", node)
            else:
                obsm[key] = read_elem(node)
    adata = AnnData(**parts, obsm=obsm)
    _normalise_uns(adata)
    _check_track_table(path, adata)
    return adata


def _check_track_table(path: Path, adata: AnnData) -> None:
    from .._core import TRACKS_KEY, track_table

    tracks = adata.obsm.get(TRACKS_KEY)
    n_tab = len(track_table(adata))
    n_arr = 0 if tracks is None else tracks.shape[1]
    if n_tab != n_arr:
        raise CorruptStoreError(
            f"The store {str(path)!r} is inconsistent: its track array obsm['tracks'] holds {n_arr} tracks but its "
            f"track table uns['prism']['tracks'] lists {n_tab}; which track is which cannot be known. Rebuild the "
            "store (an older prismtools could leave this after two processes appended at once)."
        )


class _Changed(Exception):
    """The store changed while it was being read (a writer committed): read again."""


def read(path: str | os.PathLike, *, lazy: bool = True) -> AnnData:
    """Read a store written by :func:`write` (or by the ``pp.add_*`` builders with ``store=``).

    The read is a consistent snapshot of the last committed state, even while another process appends to the
    store. Before anything is read, the store's commit record is checked: a store from a newer prismtools, an
    incomplete store or one with missing chunk files is refused with an error naming it and the fix.

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

    Raises
    ------
    FileNotFoundError, IncompleteStoreError, StoreVersionError, CorruptStoreError
        See the message: each names the store and what to do.

    Examples
    --------
    >>> import prismtools as pt
    >>> pt.io.write(pt.datasets.toy(n_genes=16, width=64), "read.zarr")
    >>> adata = pt.io.read("read.zarr")
    >>> adata.shape, adata.obsm["tracks"].shape, type(adata.obsm["tracks"]).__name__
    ((16, 1), (16, 3, 64), 'Array')
    >>> adata.obsm["tracks"][:2].compute().dtype.name
    'float32'
    """
    path = Path(path)
    last = None
    for attempt in range(100):
        before = root_meta(path)
        if before and before.get("pending") and is_locked(path):
            time.sleep(0.05)  # a writer is applying its commit: a moment
            continue
        try:
            with warnings.catch_warnings():  # a writer's staging folder is no zarr node: not worth a warning
                warnings.filterwarnings("ignore", message=".*not recognized as a component of a Zarr hierarchy.*")
                adata = _read_once(path, lazy)
        except Exception as err:  # noqa: BLE001 - retried only if a writer committed meanwhile
            if not isinstance(err, _Changed) and root_meta(path) == before:
                raise
            last = err
            time.sleep(0.01 * min(attempt + 1, 5))
            continue
        if root_meta(path) == before:
            if not lazy:
                for k, v in adata.obsm.items():
                    if isinstance(v, da.Array):
                        adata.obsm[k] = v.compute()
            return adata
    raise StoreError(
        f"The store {str(path)!r} kept changing while it was read (writers committing), or its commit record "
        "disagrees with its arrays. Retry; if it persists, run `prismtools info --verify` on it."
    ) from last


def _normalise_uns(adata: AnnData) -> None:
    """Undo storage round-trip artefacts in ``uns["prism"]`` (string arrays back to lists)."""
    prism = adata.uns.get("prism")
    if isinstance(prism, dict) and "covariates" in prism:
        prism["covariates"] = [str(x) for x in np.asarray(prism["covariates"]).ravel()]
