"""The exceptions raised by :mod:`prismtools.io`. Every message names the store and says what to do."""

from __future__ import annotations


class StoreError(RuntimeError):
    """Base class: a prismtools store cannot be read or written as asked.

    Examples
    --------
    >>> import prismtools as pt
    >>> errors = [pt.io.IncompleteStoreError, pt.io.CorruptStoreError, pt.io.StoreVersionError,
    ...           pt.io.StoreLockedError, pt.io.StaleStoreError]
    >>> all(issubclass(e, pt.io.StoreError) for e in errors)
    True
    """


class IncompleteStoreError(StoreError):
    """A store left behind by an interrupted or failed write (or an interrupted commit that cannot be finished).

    Examples
    --------
    >>> import json, pathlib
    >>> import prismtools as pt
    >>> pt.io.write(pt.datasets.toy(n_genes=16, width=64), "incomplete.zarr")
    >>> meta_file = pathlib.Path("incomplete.zarr", "zarr.json")
    >>> doc = json.loads(meta_file.read_text())
    >>> doc["attributes"]["prismtools"]["status"] = "writing: pp.add_tracks"  # as a killed build leaves it
    >>> _ = meta_file.write_text(json.dumps(doc))
    >>> try:
    ...     pt.io.read("incomplete.zarr")
    ... except pt.io.IncompleteStoreError as err:
    ...     print(type(err).__name__)
    IncompleteStoreError
    """


class CorruptStoreError(StoreError):
    """A store whose files were altered or lost after it was written (missing chunk files, failed checksums).

    Examples
    --------
    >>> import pathlib
    >>> import prismtools as pt
    >>> pt.io.write(pt.datasets.toy(n_genes=16, width=64), "corrupt.zarr")
    >>> chunks = [p for p in pathlib.Path("corrupt.zarr", "obsm", "tracks").rglob("*") if p.name != "zarr.json"]
    >>> next(p for p in chunks if p.is_file()).unlink()  # a chunk file lost
    >>> try:
    ...     pt.io.read("corrupt.zarr")
    ... except pt.io.CorruptStoreError as err:
    ...     print(type(err).__name__)
    CorruptStoreError
    """


class StoreVersionError(StoreError):
    """A store written by a newer prismtools (its ``format_version`` is newer than this one understands).

    Examples
    --------
    >>> import json, pathlib
    >>> import prismtools as pt
    >>> pt.io.write(pt.datasets.toy(n_genes=16, width=64), "version.zarr")
    >>> meta_file = pathlib.Path("version.zarr", "zarr.json")
    >>> doc = json.loads(meta_file.read_text())
    >>> doc["attributes"]["prismtools"]["format_version"] = 999  # as a future prismtools would write
    >>> _ = meta_file.write_text(json.dumps(doc))
    >>> try:
    ...     pt.io.read("version.zarr")
    ... except pt.io.StoreVersionError as err:
    ...     print(type(err).__name__)
    StoreVersionError
    """


class StoreLockedError(StoreError, TimeoutError):
    """Another process holds the store's write lock for longer than the lock timeout.

    Examples
    --------
    >>> import filelock
    >>> import prismtools as pt
    >>> from prismtools.io._lock import lock_path
    >>> adata = pt.datasets.toy(n_genes=16, width=64)
    >>> with filelock.FileLock(str(lock_path("locked.zarr"))):  # another writer holds the lock
    ...     try:
    ...         pt.io.write(adata, "locked.zarr", lock_timeout=0.1)
    ...     except pt.io.StoreLockedError as err:
    ...         print(type(err).__name__, isinstance(err, TimeoutError))
    StoreLockedError True
    """


class StaleStoreError(StoreError):
    """A lazy array whose store was replaced (e.g. by ``pt.io.write`` onto the same path) after it was opened.

    Examples
    --------
    >>> import prismtools as pt
    >>> adata = pt.datasets.toy(n_genes=16, width=64)
    >>> pt.io.write(adata, "stale.zarr")
    >>> lazy = pt.io.read("stale.zarr")
    >>> pt.io.write(adata[:8], "stale.zarr", overwrite=True)
    >>> try:
    ...     lazy.obsm["tracks"].compute()
    ... except pt.io.StaleStoreError:
    ...     print("stale: read the store again")
    stale: read the store again
    >>> pt.io.read("stale.zarr").obsm["tracks"].shape
    (8, 3, 64)
    """
