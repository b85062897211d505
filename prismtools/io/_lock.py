"""The write lock of a store: one writer at a time, across processes (the ``filelock`` package).

The lock file is a hidden sibling of the store, ``.<name>.lock`` (a sibling, not a file inside the store, so that
it is the same file before and after :func:`prismtools.io.write` replaces the store directory, and exists before
the store does). It exists only while a writer holds it, and holds the holder's PID, host and operation, so a
writer that times out can say who holds it.
The lock is re-entrant within a thread (a build holding it may call :func:`prismtools.io.write`).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import filelock

from ._errors import StoreLockedError

logger = logging.getLogger(__name__)

#: the default of ``pt.settings.store_lock_timeout`` (seconds a writer waits for another writer)
DEFAULT_TIMEOUT = 600.0
#: switched off only by ``benchmarks/bench_store.py`` to measure the lock's cost
_ENABLED = True
_held = threading.local()


def lock_path(store: str | os.PathLike) -> Path:
    store = Path(store).absolute()
    return store.with_name(f".{store.name}.lock")


def _timeout(timeout: float | None) -> float:
    if timeout is not None:
        return float(timeout)
    from .._settings import settings

    return float(settings.store_lock_timeout)


def holder(store: str | os.PathLike) -> dict | None:
    """Who holds (or last held) the write lock of ``store``: ``{"pid", "host", "operation", "since"}``."""
    try:
        text = lock_path(store).read_text()
        return json.loads(text) if text.strip() else None
    except (OSError, ValueError):
        return None


def is_locked(store: str | os.PathLike) -> bool:
    """Whether another process (or thread) holds the write lock right now."""
    if not lock_path(store).parent.exists():
        return False
    lk = filelock.FileLock(str(lock_path(store)), timeout=0)
    try:
        lk.acquire(timeout=0)
    except filelock.Timeout:
        return True
    except OSError:
        return False
    try:
        os.unlink(lock_path(store))  # as in store_lock: no lock file outlives its holder
    except OSError:
        pass
    lk.release()
    return False


@contextmanager
def store_lock(store: str | os.PathLike, operation: str, *, timeout: float | None = None):
    """Hold the write lock of ``store`` for ``operation``; wait up to ``timeout`` seconds for another writer.

    Raises
    ------
    StoreLockedError
        Another writer held the lock for the whole timeout; the message names it (PID, host, operation).
    """
    path = lock_path(store)
    key = str(path)
    depth = getattr(_held, "depth", None)
    if depth is None:
        depth = _held.depth = {}
    if not _ENABLED or depth.get(key):
        depth[key] = depth.get(key, 0) + 1
        try:
            yield
        finally:
            depth[key] -= 1
        return
    info = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "operation": operation,
                       "since": time.strftime("%Y-%m-%d %H:%M:%S")}).encode()

    def _stamp(fd: int) -> None:
        os.ftruncate(fd, 0)
        os.pwrite(fd, info, 0)

    wait = _timeout(timeout)
    try:
        lk = filelock.FileLock(key, timeout=wait, on_acquired=_stamp)
    except TypeError:  # filelock < 4: no on_acquired
        lk = filelock.FileLock(key, timeout=wait)
        _stamp = None  # noqa: F811
    try:
        lk.acquire()
    except filelock.Timeout:
        who = holder(store)
        by = (f"process {who.get('pid')} on {who.get('host')} ({who.get('operation')}, since {who.get('since')})"
              if who else "another process")
        raise StoreLockedError(
            f"The store {str(store)!r} is being written by {by}; waited {wait:g} s for its lock {key!r}. Wait for "
            "that writer to finish and retry (or raise pt.settings.store_lock_timeout). If no such process is "
            "running, the lock is free: the operating system releases it when its holder dies."
        ) from None
    if _stamp is None:
        Path(key).write_bytes(info)
    depth[key] = 1
    try:
        yield
    finally:
        depth[key] = 0
        # remove the lock file while still holding it: filelock (>= 4.3) makes a waiter that locked the
        # unlinked file notice (its link count is 0) and retry on a fresh one, so no store leaves a lock file
        try:
            os.unlink(key)
        except OSError:
            pass
        lk.release()
