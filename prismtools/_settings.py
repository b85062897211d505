"""Global settings for prismtools (``pt.settings``)."""

from __future__ import annotations

import logging
import os

_LEVELS = {0: logging.ERROR, 1: logging.WARNING, 2: logging.INFO, 3: logging.DEBUG}


class Settings:
    """Package-wide settings, in the manner of ``scanpy.settings`` / ``scvi.settings``.

    Attributes
    ----------
    verbosity
        0 = errors, 1 = warnings, 2 = info (default), 3 = debug. Sets the level of the
        ``prismtools`` logger only; the user's root logging configuration is never touched.
    seed
        Default seed used where a function takes ``seed=None``.
    n_jobs
        Number of workers for chunked builds (dask, local scheduler) and DataLoader workers.
    device
        Default torch device for models: ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"``, ...
    progress
        Show ``tqdm`` progress bars for long work.
    chunk_genes
        Genes per chunk when building or streaming large track arrays.
    num_threads
        Torch CPU threads used by model code (``None``: torch's default). Small models on a busy machine
        often run several times faster with 1 thread (see ``benchmarks/README.md``).
    """

    def __init__(self) -> None:
        self._verbosity = 2
        self.seed: int = 0
        self.n_jobs: int = max(1, min(4, os.cpu_count() or 1))
        self.device: str = "auto"
        self.progress: bool = True
        self.chunk_genes: int = 64
        self.num_threads: int | None = None
        self.verbosity = 2

    @property
    def verbosity(self) -> int:
        return self._verbosity

    @verbosity.setter
    def verbosity(self, value: int) -> None:
        if value not in _LEVELS:
            raise ValueError(f"verbosity must be one of {sorted(_LEVELS)}, got {value!r}")
        self._verbosity = value
        logging.getLogger("prismtools").setLevel(_LEVELS[value])

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in ("verbosity", "seed", "n_jobs", "device", "progress", "chunk_genes", "num_threads"))
        return f"Settings({fields})"


settings = Settings()
