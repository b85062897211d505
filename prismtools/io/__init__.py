"""Reading and writing prismtools datasets (one zarr store each)."""

from ._zarr import IncompleteStoreError, read, write

__all__ = ["read", "write", "IncompleteStoreError"]
