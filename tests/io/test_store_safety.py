"""Data safety of the store (issue 9): nothing lost, nothing silently wrong, every refusal names the file."""

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import zarr

import prismtools as pt
from prismtools._core import track_table
from prismtools.io._lock import lock_path

ROOT = str(Path(__file__).resolve().parents[2])


def _env():
    return {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""), "OMP_NUM_THREADS": "1"}


def _snapshot(store):
    a = pt.io.read(store)
    return {
        "tracks": np.asarray(a.obsm["tracks"]).copy(),
        "table": track_table(a).copy(),
        "obs": a.obs.copy(),
        "X": np.asarray(a.X).copy(),
        "seq": np.asarray(a.obsm["sequence"]).copy() if "sequence" in a.obsm else None,
    }


def _same(s1, s2):
    assert np.array_equal(s1["tracks"], s2["tracks"])
    pd.testing.assert_frame_equal(s1["table"], s2["table"])
    pd.testing.assert_frame_equal(s1["obs"], s2["obs"])
    assert np.array_equal(s1["X"], s2["X"], equal_nan=True)
    assert (s1["seq"] is None) == (s2["seq"] is None)
    if s1["seq"] is not None:
        assert np.array_equal(s1["seq"], s2["seq"])


def _base_store(genes, genome, store):
    pt.settings.chunk_genes = 2
    pt.pp.set_window(genes, 100, bin_size=10)
    pt.pp.add_sequence(genes, genome["fasta"], store=store)
    pt.pp.add_track(genes, genome["bigwig"], name="a", sample="s", role="foreground", store=store)
    return genes


# -- a kill at each step of a multi-track build -----------------------------------------------------------------
KILLS = {
    # before the commit point: the previous state must read back bit-identical
    "compute": ("before", """
        orig = _bigwig._BigWigBlock.__call__
        n = [0]
        def dying(self, lo, hi):
            n[0] += 1
            if n[0] == 2:
                os._exit(3)
            return orig(self, lo, hi)
        _bigwig._BigWigBlock.__call__ = dying
    """),
    "chunks-moved": ("before", """
        orig = bs.write_metadata
        bs.write_metadata = lambda *a, **k: os._exit(3)
    """),
    "metadata-staged": ("before", """
        orig = bs.set_status
        bs.set_status = lambda *a, **k: os._exit(3)
    """),
    # after the commit point: the new state must be rolled forward, complete
    "committed": ("after", """
        orig = bs.set_status
        def dying(group, status, **kw):
            orig(group, status, **kw)
            if kw.get("pending"):
                os._exit(3)
        bs.set_status = dying
    """),
    "mid-apply": ("after", """
        orig = bs.set_status
        real_replace = os.replace
        def die_after_two(src, dst, n=[0]):
            n[0] += 1
            if n[0] == 3:
                os._exit(3)
            real_replace(src, dst)
        def dying(group, status, **kw):
            orig(group, status, **kw)
            if kw.get("pending"):
                bs.os.replace = die_after_two
        bs.set_status = dying
    """),
}


@pytest.mark.parametrize("step", list(KILLS))
def test_kill_at_each_step_keeps_last_complete_state(genome, tmp_path, step):
    store = tmp_path / "s.zarr"
    g = _base_store(pt.pp.read_genes(genome["bed"]), genome, store)
    before = _snapshot(store)
    when, patch = KILLS[step]
    script = textwrap.dedent("""
        import os
        import prismtools as pt
        from prismtools.pp import _bigwig
        from prismtools.io import _buildstore as bs
        pt.settings.progress = False
        pt.settings.chunk_genes = 2
        pt.settings.n_jobs = 1
        g = pt.io.read({store!r})
    """).format(store=str(store)) + textwrap.dedent(patch) + textwrap.dedent("""
        pt.pp.add_track(g, {bw!r}, name="b", sample="s", role="background", store={store!r})
        print("not killed")
    """).format(bw=str(genome["bigwig"]), store=str(store))
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=_env())
    assert res.returncode == 3, res.stdout + res.stderr
    after = _snapshot(store)  # reads without error either way
    if when == "before":
        _same(after, before)  # bit-identical previous state
    else:
        assert after["tracks"].shape[1] == 2 and list(after["table"]["name"]) == ["a", "b"]
        assert np.array_equal(after["tracks"][:, :1], before["tracks"])
        assert np.array_equal(after["seq"], before["seq"])
    # the next writer cleans up and continues; nothing is left over
    back = pt.io.read(store)
    if when == "before":
        pt.pp.add_track(back, genome["bigwig"], name="b", sample="s", role="background", store=store)
    assert pt.io.leftovers(store) == []
    final = _snapshot(store)
    assert final["tracks"].shape[1] == 2 and list(final["table"]["name"]) == ["a", "b"]
    assert np.array_equal(final["tracks"][:, 1], final["tracks"][:, 0])  # same bigWig: same values
    pt.io.verify(store)


def test_old_format_incomplete_marker_still_refused(genes, genome, tmp_path):
    store = tmp_path / "s.zarr"
    _base_store(genes, genome, store)
    from prismtools.io._zarr import set_status

    set_status(zarr.open_group(str(store), mode="r+"), "writing: add_hic(HiC)")
    with pytest.raises(pt.io.IncompleteStoreError, match=r"s\.zarr.*add_hic"):
        pt.io.read(store)


# -- two real processes appending at once ------------------------------------------------------------------
APPEND = """
import sys, time
import prismtools as pt
from prismtools._core import track_table
pt.settings.progress = False
pt.settings.n_jobs = 1
store, bw, name, start = sys.argv[1:5]
while time.time() < float(start):
    time.sleep(0.005)
g = pt.io.read(store)
try:
    pt.pp.add_track(g, bw, name=name, sample="s", role="background", store=store)
except ValueError as err:
    print("REFUSED", err)
    sys.exit(1)
print("OK")
"""


def test_two_processes_append_at_once(genome, tmp_path):
    store = tmp_path / "s.zarr"
    g = _base_store(pt.pp.read_genes(genome["bed"]), genome, store)
    ref = np.asarray(pt.io.read(store).obsm["tracks"])[:, 0]
    n_ok = 0
    for rnd in range(3):
        start = str(time.time() + 2.0)
        procs = [subprocess.Popen([sys.executable, "-c", APPEND, str(store), str(genome["bigwig"]), f"t{rnd}{i}",
                                   start], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
                 for i in range(2)]
        outs = [p.communicate(timeout=300) for p in procs]
        codes = [p.returncode for p in procs]
        for code, (out, err) in zip(codes, outs):
            # success, or a clear refusal naming the store: never a raw library error
            assert code == 0 or (code == 1 and "REFUSED" in out and str(store) in out), (code, out, err)
        assert 0 in codes
        n_ok += codes.count(0)
        a = pt.io.read(store)
        tab = track_table(a)
        assert a.obsm["tracks"].shape[1] == len(tab) == 1 + n_ok  # array and table agree, every time
        vals = np.asarray(a.obsm["tracks"])
        for k in range(vals.shape[1]):
            assert np.array_equal(vals[:, k], ref)
        pt.io.verify(store)
    del g


def test_second_writer_waits_then_fails_naming_the_holder(tmp_path):
    store = tmp_path / "t.zarr"
    a = pt.datasets.toy(n_genes=8, width=16)
    pt.io.write(a, store)
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import time
            from prismtools.io._lock import store_lock
            with store_lock({str(store)!r}, "a long build"):
                print("held", flush=True)
                time.sleep(20)
        """)], stdout=subprocess.PIPE, text=True, env=_env())
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(pt.io.StoreLockedError, match=rf"t\.zarr.*{holder.pid}.*a long build"):
            pt.io.write(a, store, overwrite=True, lock_timeout=0.5)
    finally:
        holder.kill()
        holder.wait()
    pt.io.write(a, store, overwrite=True, lock_timeout=5)  # free again
    assert not lock_path(store).exists()  # the lock file exists only while held


# -- deleted chunks, corrupted chunks, newer format ------------------------------------------------------------
def test_deleted_chunk_is_an_error_not_zeros(tmp_path):
    store = tmp_path / "t.zarr"
    a = pt.datasets.toy(n_genes=8, width=16)
    pt.io.write(a, store, chunk_genes=2)
    chunk = next(p for p in (store / "obsm" / "tracks" / "c").rglob("*") if p.is_file())
    chunk.unlink()
    with pytest.raises(pt.io.CorruptStoreError, match=r"t\.zarr.*obsm/tracks.*chunk files.*Copy the store again"):
        pt.io.read(store)
    from prismtools.cli import main

    assert main(["info", str(store)]) == 1


def test_corrupted_chunk_fails_its_checksum(tmp_path, capsys):
    store = tmp_path / "t.zarr"
    a = pt.datasets.toy(n_genes=8, width=16)
    pt.io.write(a, store, chunk_genes=2)
    meta = json.loads((store / "obsm" / "tracks" / "zarr.json").read_text())
    assert "crc32c" in [c["name"] for c in meta["codecs"]]
    chunk = sorted(p for p in (store / "obsm" / "tracks" / "c").rglob("*") if p.is_file())[0]
    raw = bytearray(chunk.read_bytes())
    raw[len(raw) // 2] ^= 0x55
    chunk.write_bytes(bytes(raw))
    b = pt.io.read(store)  # the count is right: only reading the data can tell
    with pytest.raises(pt.io.CorruptStoreError, match="checksum"):
        np.asarray(b.obsm["tracks"])
    with pytest.raises(pt.io.CorruptStoreError, match=r"t\.zarr.*obsm/tracks"):
        pt.io.verify(store)
    from prismtools.cli import main

    assert main(["info", "--verify", str(store)]) == 1
    assert "damaged" in capsys.readouterr().err


def test_newer_format_is_refused(tmp_path):
    store = tmp_path / "t.zarr"
    pt.io.write(pt.datasets.toy(n_genes=8, width=16), store)
    g = zarr.open_group(str(store), mode="r+")
    meta = dict(g.attrs["prismtools"])
    meta["format_version"] = 99
    g.attrs["prismtools"] = meta
    with pytest.raises(pt.io.StoreVersionError, match=r"t\.zarr.*format version 99.*Upgrade prismtools"):
        pt.io.read(store)


def test_track_table_disagreeing_with_array_is_a_clear_error(tmp_path):
    store = tmp_path / "t.zarr"
    a = pt.datasets.toy(n_genes=8, width=16)
    tab = track_table(a)
    a.uns["prism"]["tracks"] = tab.iloc[:-1].copy()  # what the old concurrent-append bug left behind
    pt.io.write(a, store)
    with pytest.raises(pt.io.CorruptStoreError, match=r"t\.zarr.*holds \d+ tracks.*lists \d+"):
        pt.io.read(store)


# -- write never deletes what is not a store --------------------------------------------------------------------
def test_write_never_deletes_user_files(tmp_path):
    a = pt.datasets.toy(n_genes=8, width=16)
    folder = tmp_path / "my_reads"
    folder.mkdir()
    (folder / "notes.txt").write_text("precious")
    for ow in (False, True):
        with pytest.raises(FileExistsError, match=r"my_reads.*not a prismtools/AnnData zarr store"):
            pt.io.write(a, folder, overwrite=ow)
    assert (folder / "notes.txt").read_text() == "precious"
    f = tmp_path / "data.zarr"
    f.write_text("not a store")
    with pytest.raises(FileExistsError, match=r"data\.zarr.*is a file"):
        pt.io.write(a, f, overwrite=True)
    assert f.read_text() == "not a store"
    # an existing store: only with overwrite=True
    pt.io.write(a, tmp_path / "s.zarr")
    with pytest.raises(FileExistsError, match=r"s\.zarr.*overwrite=True"):
        pt.io.write(a[:4], tmp_path / "s.zarr")
    assert pt.io.read(tmp_path / "s.zarr").n_obs == 8
    pt.io.write(a[:4], tmp_path / "s.zarr", overwrite=True)
    assert pt.io.read(tmp_path / "s.zarr").n_obs == 4
    (tmp_path / "empty").mkdir()
    pt.io.write(a, tmp_path / "empty")  # an empty folder holds nothing to lose
    assert pt.io.read(tmp_path / "empty").n_obs == 8


def test_lazy_view_written_back_to_its_own_path(tmp_path):
    store = tmp_path / "t.zarr"
    a = pt.datasets.toy(n_genes=12, width=16)
    pt.io.write(a, store, chunk_genes=4)
    b = pt.io.read(store)
    sub = b[3:9]
    pt.io.write(sub, store, overwrite=True)
    c = pt.io.read(store)
    assert list(c.obs_names) == list(a.obs_names[3:9])
    assert np.array_equal(np.asarray(c.obsm["tracks"]), np.asarray(a.obsm["tracks"])[3:9])
    # the old lazy AnnData no longer serves another store's data as its own
    with pytest.raises(pt.io.StaleStoreError, match=r"t\.zarr.*pt\.io\.read"):
        np.asarray(b.obsm["tracks"])
    # and writing a lazy AnnData over its own store, whole, keeps the data
    pt.io.write(c, store, overwrite=True)
    assert np.array_equal(np.asarray(pt.io.read(store).obsm["tracks"]), np.asarray(a.obsm["tracks"])[3:9])


def test_appends_do_not_disturb_open_readers(genes, genome, tmp_path):
    store = tmp_path / "s.zarr"
    _base_store(genes, genome, store)
    old = pt.io.read(store)
    first = np.asarray(old.obsm["tracks"]).copy()
    pt.pp.add_track(pt.io.read(store), genome["bigwig"], name="b", sample="s", role="background", store=store)
    assert np.array_equal(np.asarray(old.obsm["tracks"]), first)  # a reader keeps its committed snapshot
    assert pt.io.read(store).obsm["tracks"].shape[1] == 2


def test_plain_anndata_reads_the_store(genes, genome, tmp_path):
    import anndata as ad

    store = tmp_path / "s.zarr"
    _base_store(genes, genome, store)
    pt.pp.add_track(pt.io.read(store), genome["bigwig"], name="b", sample="s", role="background", store=store)
    plain = ad.read_zarr(store)
    assert plain.obsm["tracks"].shape[1] == 2 and len(plain.uns["prism"]["tracks"]["name"]) == 2
