"""The exceptions raised by :mod:`prismtools.io`. Every message names the store and says what to do."""

from __future__ import annotations


class StoreError(RuntimeError):
    """Base class: a prismtools store cannot be read or written as asked."""


class IncompleteStoreError(StoreError):
    """A store left behind by an interrupted or failed write (or an interrupted commit that cannot be finished)."""


class CorruptStoreError(StoreError):
    """A store whose files were altered or lost after it was written (missing chunk files, failed checksums)."""


class StoreVersionError(StoreError):
    """A store written by a newer prismtools (its ``format_version`` is newer than this one understands)."""


class StoreLockedError(StoreError, TimeoutError):
    """Another process holds the store's write lock for longer than the lock timeout."""


class StaleStoreError(StoreError):
    """A lazy array whose store was replaced (e.g. by ``pt.io.write`` onto the same path) after it was opened."""
