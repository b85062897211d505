"""Reading and writing prismtools datasets (one zarr store each); see ``docs/data_safety.md``."""

from ._errors import (
    CorruptStoreError, IncompleteStoreError, StaleStoreError, StoreError, StoreLockedError, StoreVersionError,
)
from ._verify import leftovers, verify
from ._zarr import read, write

__all__ = [
    "read", "write", "verify", "leftovers", "StoreError", "IncompleteStoreError", "CorruptStoreError",
    "StoreVersionError", "StoreLockedError", "StaleStoreError",
]
