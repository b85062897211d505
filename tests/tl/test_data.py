"""The batch pipeline: row reading from numpy/dask, deterministic samplers, upsampling of binned tracks."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import torch

import prismtools as pt
from prismtools.tl._data import GeneBatches, GeneBatchSampler, RowReader, make_loader, sequential_batches, to_device


def test_row_reader_numpy_and_dask_agree():
    rng = np.random.default_rng(0)
    arr = rng.random((70, 4, 9)).astype(np.float32)
    lazy = da.from_array(arr, chunks=(16, -1, -1))
    idx = np.array([3, 17, 18, 40, 69])
    for cols in (None, [2, 0]):
        eager = RowReader(arr, cols)(idx)
        reader = RowReader(lazy, cols, cache_chunks=2)
        np.testing.assert_array_equal(reader(idx), eager)
        np.testing.assert_array_equal(reader(np.array([5, 1])), RowReader(arr, cols)(np.array([5, 1])))
        assert len(reader._cache) <= 2
    assert RowReader(lazy, cache_bytes=16 * 4 * 9 * 4 * 3).cache_chunks == 3  # the byte budget caps the cache


def test_sampler_is_deterministic_complete_and_resumable():
    genes = np.arange(5, 58)
    s = GeneBatchSampler(genes, 8, seed=7)
    assert s.steps_per_epoch == 7
    e0 = s.epoch_batches(0)
    assert all((np.diff(b) > 0).all() for b in e0)  # sorted within a batch
    np.testing.assert_array_equal(np.sort(np.concatenate(e0)), genes)
    assert [b.tolist() for b in e0] == [b.tolist() for b in GeneBatchSampler(genes, 8, seed=7).epoch_batches(0)]
    assert [b.tolist() for b in e0] != [b.tolist() for b in s.epoch_batches(1)]
    it = iter(s)
    stream = [next(it).tolist() for _ in range(20)]
    later = GeneBatchSampler(genes, 8, seed=7, start_step=9)
    it2 = iter(later)
    assert [next(it2).tolist() for _ in range(11)] == stream[9:]
    # chunk-aware order: each batch spans few chunks
    bounds = np.arange(0, 65, 8)
    c = GeneBatchSampler(genes, 8, seed=1, chunk_bounds=bounds, buffer_chunks=2)
    batches = c.epoch_batches(0)
    np.testing.assert_array_equal(np.sort(np.concatenate(batches)), genes)
    spans = [len(np.unique(np.searchsorted(bounds, b, side="right"))) for b in batches]
    assert max(spans) <= 4


def test_dataset_loader_and_upsampling():
    a = pt.datasets.toy(n_genes=40, width=64)
    a.obsm["tracks"][3, 1, 5] = np.nan
    cov = np.ones((40, 2), np.float32)
    ds = GeneBatches(a, use_sequence=True, track_idx=[0, 1], covariates=cov, targets=a.X[:, 0])
    assert not ds.lazy
    b = ds[np.array([1, 3, 7])]
    assert b["sequence"].dtype == torch.uint8 and b["sequence"].shape == (3, 64)
    assert b["tracks"].shape == (3, 2, 64) and torch.isfinite(b["tracks"]).all() and b["tracks"][1, 1, 5] == 0
    assert b["covariates"].shape == (3, 2) and b["y"].shape == (3,)
    loader = make_loader(ds, sequential_batches(np.arange(40), 16))
    assert [len(x["index"]) for x in loader] == [16, 16, 8]
    # binned tracks: repeat_interleave to the window; a width that is not a multiple repeats the last bin
    t = torch.arange(6, dtype=torch.float32).reshape(1, 2, 3)
    out = to_device({"tracks": t, "sequence": torch.zeros(1, 14, dtype=torch.uint8)}, torch.device("cpu"),
                    bin_size=4, width=14, upsample=True)
    assert out["sequence"].dtype == torch.long
    assert out["tracks"].shape == (1, 2, 14)
    assert out["tracks"][0, 0].tolist() == [0] * 4 + [1] * 4 + [2] * 6
    same = to_device({"tracks": t}, torch.device("cpu"), bin_size=4, width=14, upsample=False)
    assert same["tracks"].shape == (1, 2, 3)


def test_lazy_dataset_with_workers():
    a = pt.datasets.toy(n_genes=40, width=64)
    ref = GeneBatches(a, use_sequence=True, track_idx=[0, 2], covariates=None)
    a.obsm["sequence"] = da.from_array(a.obsm["sequence"], chunks=(8, -1))
    a.obsm["tracks"] = da.from_array(a.obsm["tracks"], chunks=(8, -1, -1))
    ds = GeneBatches(a, use_sequence=True, track_idx=[0, 2], covariates=None)
    assert ds.lazy and ds.chunk_bounds.tolist() == [0, 8, 16, 24, 32, 40]
    batches = sequential_batches(np.arange(40), 8)
    got = list(make_loader(ds, batches, n_workers=2))
    for b, idx in zip(got, batches):
        want = ref[idx]
        for k in ("sequence", "tracks"):
            assert torch.equal(b[k], want[k])


@pytest.mark.parametrize("device", ["cpu", "auto"])
def test_resolve_device_and_precision(device):
    from prismtools.tl._device import resolve_device, resolve_precision

    dev = resolve_device(device)
    assert dev.type in ("cpu", "cuda", "mps")
    p = resolve_precision("auto", torch.device("cpu"))
    assert p.name == "32" and p.autocast_dtype is None
    assert resolve_precision("bf16", torch.device("cpu")).autocast_dtype == torch.bfloat16
    with pytest.raises(ValueError, match="Unknown device"):
        resolve_device("tpu")


def test_sampler_never_yields_a_one_gene_batch():
    from prismtools.tl._data import GeneBatchSampler

    s = GeneBatchSampler(np.arange(17), 8, seed=0)
    batches = s.epoch_batches(0)
    assert [len(b) for b in batches] == [8, 9] and s.steps_per_epoch == 2
    assert sorted(np.concatenate(batches).tolist()) == list(range(17))  # nothing dropped


def test_short_window_with_trailing_single_gene_trains():
    import prismtools as pt

    a = pt.datasets.toy(n_genes=40, width=16)
    n_train = int((a.obs["split"] == "train").sum())
    bs = n_train - 1  # leaves one gene for a second batch
    m = pt.tl.Prism(a, sample="toy", d_model=8, n_layers=1, seed=0)
    m.fit(max_steps=4, batch_size=bs, warmup_steps=1, progress=False)
    assert len(m.history_) > 0
