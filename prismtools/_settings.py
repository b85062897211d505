"""Global settings for prismtools (``pt.settings``)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

_LEVELS = {0: logging.ERROR, 1: logging.WARNING, 2: logging.INFO, 3: logging.DEBUG}
_NAMES = {"error": 0, "warning": 1, "info": 2, "debug": 3}


class _ShowIfUnhandled(logging.Filter):
    """Let the package's own stderr handler show a record only when no other handler would: none on the
    ``prismtools`` logger besides ours, and (while records propagate) none on its ancestors, root included.

    So warnings are visible by default in scripts and notebooks, and a user who configured logging (e.g.
    ``logging.basicConfig``, pytest's capture, the CLI's handler) sees each message once, through their handlers.
    """

    def __init__(self, handler: logging.Handler) -> None:
        super().__init__()
        self._handler = handler

    def filter(self, record: logging.LogRecord) -> bool:
        log = logging.getLogger("prismtools")
        if any(h is not self._handler for h in log.handlers):
            return False
        if log.propagate:
            parent = log.parent
            while parent is not None:
                if parent.handlers:
                    return False
                if not parent.propagate:
                    break
                parent = parent.parent
        return True


def _install_handler() -> logging.Handler:
    """Give the ``prismtools`` logger its own stderr handler (once; the root logger is never touched)."""
    log = logging.getLogger("prismtools")
    for h in log.handlers:
        if getattr(h, "_prismtools_default", False):
            return h
    handler = logging.StreamHandler()  # sys.stderr at emit time (notebooks swap it)
    handler.setFormatter(logging.Formatter("%(levelname)s prismtools: %(message)s"))
    handler.addFilter(_ShowIfUnhandled(handler))
    handler._prismtools_default = True
    log.addHandler(handler)
    return handler


class Settings:
    """Package-wide settings, in the manner of ``scanpy.settings`` / ``scvi.settings``.

    Attributes
    ----------
    verbosity
        0 = errors, 1 = warnings (default, as in scanpy), 2 = info, 3 = debug; the names ``"error"``,
        ``"warning"``, ``"info"``, ``"debug"`` work too. Sets the level of the ``prismtools`` logger only; the
        root logger is never touched. prismtools messages go to stderr through the package's own handler
        (``LEVEL prismtools: message``) unless the user configured logging (a handler on the root logger, e.g.
        ``logging.basicConfig``), in which case they reach the user's handlers instead, once.
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
    cachedir
        Folder for files prismtools derives from inputs it may not write next to (e.g. the ``.fai`` index of a
        FASTA in a read-only folder). Default ``$XDG_CACHE_HOME/prismtools`` (``~/.cache/prismtools``).
    num_threads
        Torch CPU threads used by model code (``None``: torch's default). Small models on a busy machine
        often run several times faster with 1 thread (see ``benchmarks/README.md``).
    store_lock_timeout
        Seconds a writer of a zarr store waits for another writer of the same store to release its lock before
        failing with :class:`~prismtools.io.StoreLockedError` (default 600; ``pt.io.write(..., lock_timeout=)``
        overrides it for one call). Must be a number >= 0 (0: fail at once if the store is locked).

    Examples
    --------
    >>> import prismtools as pt
    >>> saved = pt.settings.verbosity, pt.settings.seed, pt.settings.progress
    >>> pt.settings.verbosity = "info"  # also show INFO messages (matched gene counts, dropped genes, ...)
    >>> pt.settings.verbosity
    2
    >>> import logging
    >>> logging.getLogger("prismtools").level == logging.INFO
    True
    >>> pt.settings.seed = 42  # used wherever a function is called with seed=None
    >>> pt.settings.progress = False  # no progress bars (e.g. in batch jobs)
    >>> pt.settings  # doctest: +ELLIPSIS
    Settings(verbosity=2, seed=42, ..., progress=False, ...)
    >>> pt.settings.verbosity = "loud"
    Traceback (most recent call last):
    ...
    ValueError: verbosity must be one of [0, 1, 2, 3] or ['error', 'warning', 'info', 'debug'], got 'loud'
    >>> pt.settings.verbosity, pt.settings.seed, pt.settings.progress = saved
    """

    def __init__(self) -> None:
        self._verbosity = 1
        self.seed: int = 0
        self.n_jobs: int = max(1, min(4, os.cpu_count() or 1))
        self.device: str = "auto"
        self.progress: bool = True
        self.chunk_genes: int = 64
        self.num_threads: int | None = None
        self.store_lock_timeout = 600.0
        self.cachedir = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "prismtools"
        self.verbosity = 1

    @property
    def verbosity(self) -> int:
        return self._verbosity

    @verbosity.setter
    def verbosity(self, value: int | str) -> None:
        if isinstance(value, str) and value.lower() in _NAMES:
            value = _NAMES[value.lower()]
        if isinstance(value, bool) or value not in _LEVELS:
            raise ValueError(f"verbosity must be one of {sorted(_LEVELS)} or {list(_NAMES)}, got {value!r}")
        value = int(value)
        self._verbosity = value
        logging.getLogger("prismtools").setLevel(_LEVELS[value])

    @property
    def store_lock_timeout(self) -> float:
        return self._store_lock_timeout

    @store_lock_timeout.setter
    def store_lock_timeout(self, value: float) -> None:
        try:
            ok = not isinstance(value, bool) and float(value) >= 0
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(f"store_lock_timeout must be a number of seconds >= 0, got {value!r}")
        self._store_lock_timeout = float(value)

    def __repr__(self) -> str:
        names = ("verbosity", "seed", "n_jobs", "device", "progress", "chunk_genes", "num_threads", "store_lock_timeout")
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in names)
        return f"Settings({fields})"


settings = Settings()
_install_handler()
