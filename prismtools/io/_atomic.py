"""Atomic writes: build a file or folder in a hidden temporary sibling, then move it into place.

Every writer in prismtools that must never leave a half-written result at its destination (stores, checkpoints,
built and simulated data folders) uses these primitives. The temporary sibling is named ``.<name>.<kind>-<hex8>``
in the destination's folder (so the final move is a same-filesystem rename); :func:`prismtools.io.leftovers`
recognises the kinds ``tmp``, ``old`` and ``build`` next to a store.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def temp_sibling(path: str | os.PathLike, kind: str = "tmp") -> Path:
    """A fresh hidden sibling of ``path`` for a private write: ``.<name>.<kind>-<8 hex digits>``."""
    path = Path(path)
    return path.with_name(f".{path.name}.{kind}-{uuid.uuid4().hex[:8]}")


def remove(path: str | os.PathLike) -> None:
    """Remove a file or folder tree at ``path`` if there is one (errors ignored: this is cleanup)."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink(missing_ok=True)
        except OSError:
            pass


def _exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two paths (Linux ``renameat2(RENAME_EXCHANGE)``); ``False`` when unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    AT_FDCWD, RENAME_EXCHANGE = -100, 2  # noqa: N806
    rc = fn(AT_FDCWD, os.fsencode(str(a)), AT_FDCWD, os.fsencode(str(b)), RENAME_EXCHANGE)
    return rc == 0


def replace_path(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Put ``src`` (a file or a folder) at ``dst``, replacing what is there; the old ``dst`` is removed after.

    A file replaces a file with one ``os.replace``. A folder replaces a missing or empty ``dst`` directly, else it
    is exchanged with ``dst`` in one step where the system allows it (so there is no moment without something at
    ``dst``), otherwise the old ``dst`` is first renamed to ``.<name>.old-*`` and removed once ``src`` is in place.
    The caller decides whether ``dst`` may be replaced at all.
    """
    src, dst = Path(src), Path(dst)
    if not src.is_dir() or not dst.exists():
        os.replace(src, dst)
        return
    if dst.is_dir() and not any(dst.iterdir()):
        dst.rmdir()
        os.replace(src, dst)
        return
    if _exchange(src, dst):
        remove(src)  # now the old dst
        return
    trash = temp_sibling(dst, "old")
    os.replace(dst, trash)
    os.replace(src, dst)
    remove(trash)


@contextmanager
def atomic_path(path: str | os.PathLike, *, kind: str = "tmp", mkdir: bool = False,
                install: Callable[[Path, Path], None] | None = None) -> Iterator[Path]:
    """Yield a hidden temporary sibling of ``path`` to write to; move it to ``path`` when the block succeeds.

    Parameters
    ----------
    path
        The destination (a file or a folder).
    kind
        Middle part of the temporary name ``.<name>.<kind>-<hex8>``.
    mkdir
        Create the temporary folder before yielding it (otherwise nothing exists at the yielded path yet).
    install
        ``install(tmp, path)`` moves the finished result into place (default :func:`replace_path`); a store
        passes its own, which takes the store's lock and refuses to replace a non-store.

    If the block or the install raises, the temporary file or folder is removed and ``path`` is left as it was.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_path(d / "a.txt") as tmp:
    ...     _ = tmp.write_text("done")
    >>> (d / "a.txt").read_text(), sorted(p.name for p in d.iterdir())
    ('done', ['a.txt'])
    """
    path = Path(path)
    tmp = temp_sibling(path, kind)
    if mkdir:
        tmp.mkdir(parents=True)
    try:
        yield tmp
        (install or replace_path)(tmp, path)
    except BaseException:
        remove(tmp)
        raise
