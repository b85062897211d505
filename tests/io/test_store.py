import subprocess
import sys
import textwrap

import anndata as ad
import dask.array as da
import numpy as np
import pandas as pd
import pytest
import zarr

import prismtools as pt
from prismtools.io._zarr import set_status


def _built(genes, genome, store=None):
    pt.pp.set_window(genes, 200, bin_size=10)
    pt.pp.add_sequence(genes, genome["fasta"], store=store)
    pt.pp.add_track(genes, genome["bigwig"], name="a", sample="s", role="foreground", store=store)
    pt.pp.add_hic(genes, genome["cool"], sample="s", balance=False, store=store)
    return genes


def test_roundtrip_lazy(genes, genome, tmp_path):
    a = _built(genes, genome)
    a.obsm["covariates"] = np.ones((a.n_obs, 2), np.float32)
    a.uns["prism"]["covariates"] = ["x", "y"]
    pt.io.write(a, tmp_path / "d.zarr")
    b = pt.io.read(tmp_path / "d.zarr")
    assert isinstance(b.obsm["tracks"], da.Array) and isinstance(b.obsm["sequence"], da.Array)
    assert not isinstance(b.obsm["covariates"], da.Array)
    assert b.obsm["tracks"].chunksize[0] == pt.settings.chunk_genes  # chunked by genes
    assert np.array_equal(np.asarray(b.obsm["tracks"]), a.obsm["tracks"])
    assert np.array_equal(np.asarray(b.obsm["sequence"]), a.obsm["sequence"])
    assert b.uns["prism"]["covariates"] == ["x", "y"]
    assert pt.get_tracks(b).shape == (6, 2, 20)
    eager = pt.io.read(tmp_path / "d.zarr", lazy=False)
    assert isinstance(eager.obsm["tracks"], np.ndarray)
    plain = ad.read_zarr(tmp_path / "d.zarr")  # a plain AnnData store too
    assert plain.obsm["tracks"].shape == (6, 2, 20)
    # rewriting a store from its own lazy arrays works (write goes to a temporary sibling first)
    pt.io.write(b, tmp_path / "d.zarr", overwrite=True)
    assert np.array_equal(np.asarray(pt.io.read(tmp_path / "d.zarr").obsm["tracks"]), a.obsm["tracks"])


def test_store_build_equals_memory_build(genome, tmp_path):
    mem = _built(pt.pp.read_genes(genome["bed"]), genome)
    g = pt.pp.read_genes(genome["bed"])
    pt.pp.add_expression(g, pd.DataFrame({"v": [1.0]}, index=["G1"]), sample="s")
    st = _built(g, genome, store=tmp_path / "s.zarr")
    assert isinstance(st.obsm["tracks"], da.Array)
    assert np.array_equal(np.asarray(st.obsm["tracks"]), mem.obsm["tracks"])
    re = pt.io.read(tmp_path / "s.zarr")
    assert np.array_equal(np.asarray(re.obsm["tracks"]), mem.obsm["tracks"])
    assert np.array_equal(np.asarray(re.obsm["sequence"]), mem.obsm["sequence"])
    assert list(re.uns["prism"]["tracks"]["name"]) == ["a", "HiC"]
    assert re.X[re.obs_names.get_loc("G1"), 0] == 1.0
    # appending to a reopened store continues lazily
    pt.pp.add_track(re, genome["bigwig"], name="b", sample="s", role="background", store=tmp_path / "s.zarr")
    assert pt.io.read(tmp_path / "s.zarr").obsm["tracks"].shape == (6, 3, 20)
    with pytest.raises(ValueError, match="pass store="):
        pt.pp.add_track(re, genome["bigwig"], name="c", sample="s", role="background")


def test_failed_track_is_rolled_back(genes, genome, tmp_path, monkeypatch):
    from prismtools.pp import _bigwig

    store = tmp_path / "s.zarr"
    pt.pp.set_window(genes, 100)
    pt.pp.add_track(genes, genome["bigwig"], name="a", sample="s", role="foreground", store=store)
    calls = {"n": 0}
    orig = _bigwig._BigWigBlock.__call__

    def flaky(self, lo, hi):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk on fire")
        return orig(self, lo, hi)

    monkeypatch.setattr(_bigwig._BigWigBlock, "__call__", flaky)
    pt.settings.n_jobs = 1
    with pytest.raises(OSError, match="disk on fire"):
        pt.pp.add_track(genes, genome["bigwig"], name="b", sample="s", role="foreground", store=store)
    back = pt.io.read(store)  # rolled back: still complete, still one track
    assert back.obsm["tracks"].shape[1] == 1 and list(back.uns["prism"]["tracks"]["name"]) == ["a"]
    assert list(genes.uns["prism"]["tracks"]["name"]) == ["a"]


def test_failed_write_leaves_previous_store(genes, genome, tmp_path, monkeypatch):
    from prismtools.io import _zarr

    a = _built(genes, genome)
    pt.io.write(a, tmp_path / "d.zarr")
    monkeypatch.setattr(_zarr, "store_array", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
    a.obs["new"] = 1
    with pytest.raises(KeyboardInterrupt):
        pt.io.write(a, tmp_path / "d.zarr", overwrite=True)
    with pytest.raises(KeyboardInterrupt):
        pt.io.write(a, tmp_path / "fresh.zarr")
    assert not (tmp_path / "fresh.zarr").exists()
    assert "new" not in pt.io.read(tmp_path / "d.zarr").obs  # the old complete store is intact
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp debris, no lock file


def test_read_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.zarr"):
        pt.io.read(tmp_path / "nope.zarr")
    zarr.open_group(str(tmp_path / "foreign.zarr"), mode="w").create_group("stuff")
    with pytest.raises(ValueError, match="not an AnnData"):
        pt.io.read(tmp_path / "foreign.zarr")
    a = pt.datasets.toy(n_genes=8, width=16)
    pt.io.write(a, tmp_path / "t.zarr")
    set_status(zarr.open_group(str(tmp_path / "t.zarr"), mode="r+"), "writing: add_hic(HiC)")
    with pytest.raises(pt.io.IncompleteStoreError, match="add_hic"):
        pt.io.read(tmp_path / "t.zarr")


def test_store_gene_mismatch(genes, genome, tmp_path):
    pt.pp.set_window(genes, 100)
    pt.pp.add_track(genes, genome["bigwig"], name="a", sample="s", role="foreground", store=tmp_path / "s.zarr")
    other = genes[:3].copy()
    with pytest.raises(ValueError, match="differ"):
        pt.pp.add_track(other, genome["bigwig"], name="b", sample="s", role="foreground", store=tmp_path / "s.zarr")


def test_lazy_normalize_stays_lazy(genes, genome, tmp_path):
    _built(genes, genome, store=tmp_path / "s.zarr")
    b = pt.io.read(tmp_path / "s.zarr")
    mem = np.asarray(b.obsm["tracks"]).copy()
    pt.pp.normalize_tracks(b, method="log1p", tracks=["a"])
    assert isinstance(b.obsm["tracks"], da.Array)
    out = np.asarray(b.obsm["tracks"])
    assert np.allclose(out[:, 0], np.log1p(mem[:, 0])) and np.array_equal(out[:, 1], mem[:, 1])


def test_build_uses_active_distributed_client(genome, tmp_path):
    distributed = pytest.importorskip("distributed")
    from prismtools.pp._build import compute_kwargs

    mem = _built(pt.pp.read_genes(genome["bed"]), genome)
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None) as client:
        assert compute_kwargs() == {}  # defer to the client
        st = _built(pt.pp.read_genes(genome["bed"]), genome, store=tmp_path / "d.zarr")
        ran = [t for t in client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.transition_log))]
    assert np.array_equal(np.asarray(st.obsm["tracks"]), mem.obsm["tracks"])
    assert any("block-" in str(t[0]) for t in ran)  # the extraction tasks ran on the cluster
    assert compute_kwargs()["scheduler"] == "threads"
