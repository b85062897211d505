"""Logging the scanpy way: warnings reach stderr by default, verbosity controls the rest, the root logger is
never touched, and nothing prints twice when the user configured logging."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

_DUPES = (
    "import pandas as pd, prismtools as pt\n"
    "df = pd.DataFrame({'chrom': ['chr1'] * 3, 'start': [10, 20, 30], 'end': [50] * 3,\n"
    "                   'strand': ['+', '+', '-'], 'gene_id': ['a', 'a', 'b']})\n"
)


def _run(code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                          cwd=ROOT, check=True)


def test_warning_reaches_stderr_by_default_and_root_untouched():
    code = (
        "import logging\n"
        "root = logging.getLogger(); before = (root.level, list(root.handlers))\n"
        + _DUPES
        + "pt.pp.read_genes(df)\n"
        "assert (root.level, list(root.handlers)) == before, 'root logger touched'\n"
    )
    r = _run(code)
    assert r.stderr.count("1 duplicated gene ids") == 1, r.stderr
    assert "read 2 genes" not in r.stderr  # INFO hidden at the default verbosity


def test_verbosity_controls_info_and_errors():
    r = _run(_DUPES + "pt.settings.verbosity = 2\npt.pp.read_genes(df)\n")
    assert "read 2 genes" in r.stderr and "1 duplicated gene ids" in r.stderr
    r = _run(_DUPES + "pt.settings.verbosity = 0\npt.pp.read_genes(df)\n")
    assert "duplicated" not in r.stderr


def test_no_duplicates_when_root_is_configured():
    r = _run("import logging, sys\nlogging.basicConfig(stream=sys.stderr, format='ROOT %(message)s')\n" + _DUPES
             + "pt.pp.read_genes(df)\n")
    assert r.stderr.count("1 duplicated gene ids") == 1 and "ROOT" in r.stderr, r.stderr


def test_settings_verbosity_validation():
    import prismtools as pt

    with pytest.raises(ValueError, match="verbosity"):
        pt.settings.verbosity = 7
    old = pt.settings.verbosity
    pt.settings.verbosity = "info"
    assert pt.settings.verbosity == 2
    pt.settings.verbosity = old


def test_settings_store_lock_timeout(tmp_path):
    """``pt.settings.store_lock_timeout``: default 600 s, shown in the repr, validated, and what writers wait."""
    import filelock

    import prismtools as pt

    from prismtools.io._lock import lock_path

    assert pt.settings.store_lock_timeout == 600.0
    assert "store_lock_timeout=600.0" in repr(pt.settings)
    for bad in (-1, "soon", None, True):
        with pytest.raises(ValueError, match="store_lock_timeout"):
            pt.settings.store_lock_timeout = bad
    assert pt.settings.store_lock_timeout == 600.0
    store = tmp_path / "t.zarr"
    a = pt.datasets.toy(n_genes=4, width=16)
    other = filelock.FileLock(str(lock_path(store)))  # another writer holding the store's lock
    other.acquire()
    saved = pt.settings.store_lock_timeout
    try:
        pt.settings.store_lock_timeout = 0.2
        with pytest.raises(pt.io.StoreLockedError, match=r"waited 0\.2 s"):
            pt.io.write(a, store)
    finally:
        pt.settings.store_lock_timeout = saved
        other.release()
    assert not store.exists()
