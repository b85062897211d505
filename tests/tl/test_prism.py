"""pt.tl.Prism end to end on the toy dataset (CPU, tiny configurations)."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest
import torch

import prismtools as pt
from prismtools.tl import _train
from prismtools.tl._checkpoint import CheckpointError

SMALL = {"d_model": 8, "n_layers": 1}
FIT = {"lr": 3e-3, "warmup_steps": 2, "device": "cpu"}


def toy(**kw):
    kw.setdefault("n_genes", 96)
    kw.setdefault("width", 64)
    return pt.datasets.toy(**kw)


@pytest.fixture
def adata():
    return toy()


@pytest.fixture(scope="module")
def trained():
    a = toy()
    model = pt.tl.Prism(a, sample="toy", **SMALL)
    model.fit(max_steps=24, **FIT)
    return model


def states_equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_fit_predict_evaluate(trained):
    a = trained.adata
    h = trained.history_
    assert {"step", "epoch", "train_loss", "lr", "val_mse", "val_mae", "val_pearson"} <= set(h.columns)
    assert h["step"].iloc[-1] == 24
    # toy: 41 train genes, batch 8 -> 5 steps per epoch (the 41st gene joins the last batch) -> validation every 2
    assert h["step"].tolist() == list(range(2, 25, 2))
    assert trained.best_step_ == h.loc[h["val_mse"].idxmin(), "step"]
    assert trained.device_ == torch.device("cpu") and trained.is_trained_
    assert h["train_loss"].iloc[-3:].mean() < h["train_loss"].iloc[:2].mean()  # the loss goes down
    assert h["val_mse"].min() < h["val_mse"].iloc[0]
    assert h["lr"].iloc[-1] == pytest.approx(1e-4)  # cosine floor at max_steps
    trained.predict()
    pred = a.obs["prism_pred"]
    assert pred.dtype == np.float32 and len(pred) == a.n_obs and np.isfinite(pred).all()
    res = pt.tl.evaluate(a, pred_key="prism_pred", sample="toy", split=["valid", "test"])
    assert list(res.columns) == ["n", "MSE", "MAE", "Pearson", "Spearman", "R2"]
    assert res.loc["valid", "MSE"] == pytest.approx(h.loc[h["step"] == trained.best_step_, "val_mse"].item(), rel=1e-5)
    assert res.loc["test", "n"] == (a.obs["split"] == "test").sum()
    text = repr(trained)
    assert "'toy'" in text and "H3K27ac" in text and "trained 24 steps" in text and "parameters" in text
    assert "not trained" in repr(pt.tl.Prism(a, sample="toy", **SMALL))


def test_module_and_recipe(adata):
    m = pt.tl.Prism(adata, sample="toy", n_strata=3, **SMALL)
    cfg = m.module.config
    assert cfg["n_tracks"] == 3 and cfg["n_covariates"] == 2 and cfg["n_strata"] == 3 and cfg["intervene"]
    assert m.tracks == ["H3K27ac", "DNase", "track2"] and m.covariates == ["cov0", "cov1"]
    groups = _train.param_groups(m.module)
    decayed = {id(p) for p in groups[0]["params"]}
    for name, p in m.module.named_parameters():
        if p.ndim < 2 or name.endswith("bias"):
            assert id(p) not in decayed, name
    assert groups[0]["weight_decay"] == 1e-6 and groups[1]["weight_decay"] == 0.0
    lr = lambda s: _train.lr_at(s, lr=5e-4, max_steps=100, warmup_steps=10)  # noqa: E731
    assert lr(0) == pytest.approx(1e-5) and lr(10) == pytest.approx(5e-4) and lr(100) == pytest.approx(1e-4)
    assert lr(5) == pytest.approx(1e-5 + (5e-4 - 1e-5) / 2) and lr(55) == pytest.approx(3e-4)
    assert _train.lr_at(100, lr=5e-5, max_steps=100, warmup_steps=10) == pytest.approx(5e-5)  # floor clamped to lr


def test_reproducible(adata):
    runs = []
    for _ in range(2):
        m = pt.tl.Prism(adata, sample="toy", seed=3, **SMALL)
        m.fit(max_steps=6, **FIT)
        runs.append(m)
    assert states_equal(runs[0].module, runs[1].module)
    pd.testing.assert_frame_equal(runs[0].history_, runs[1].history_)
    other = pt.tl.Prism(adata, sample="toy", seed=4, **SMALL)
    assert not states_equal(runs[0].module, other.module)


def test_resume_equals_uninterrupted(adata, tmp_path, monkeypatch):
    full = pt.tl.Prism(adata, sample="toy", **SMALL)
    full.fit(max_steps=12, checkpoint_dir=tmp_path / "full", **FIT)
    assert (tmp_path / "full" / "last.pt").is_file() and (tmp_path / "full" / "best.pt").is_file()

    real_save = _train.save_training_checkpoint

    def save_then_die(path, state):
        real_save(path, state)
        if state["step"] >= 6 and path.name == "last.pt":
            raise KeyboardInterrupt

    monkeypatch.setattr(_train, "save_training_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        pt.tl.Prism(adata, sample="toy", **SMALL).fit(max_steps=12, checkpoint_dir=tmp_path / "cut", **FIT)
    monkeypatch.setattr(_train, "save_training_checkpoint", real_save)
    import signal

    # Lightning answers an interrupt with sys.exit and SIGINT ignored; fit gives back Ctrl+C (notebooks)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

    resumed = pt.tl.Prism(adata, sample="toy", **SMALL)  # a fresh process would start like this
    resumed.fit(max_steps=12, checkpoint_dir=tmp_path / "cut", resume=True, **FIT)
    assert resumed.fit_time_["steps"] == 6
    assert states_equal(full.module, resumed.module)
    pd.testing.assert_frame_equal(full.history_, resumed.history_)
    assert full.best_step_ == resumed.best_step_
    with pytest.raises(ValueError, match="batch_size"):
        pt.tl.Prism(adata, sample="toy", **SMALL).fit(
            max_steps=12, batch_size=4, checkpoint_dir=tmp_path / "cut", resume=True, **FIT
        )
    with pytest.raises(ValueError, match="different inputs"):
        pt.tl.Prism(adata, sample="toy", tracks=["H3K27ac"], **SMALL).fit(
            max_steps=12, checkpoint_dir=tmp_path / "cut", resume=True, **FIT
        )


def test_save_load_roundtrip(trained, tmp_path):
    a = trained.adata.copy()
    trained.predict(a, key_added="before")
    trained.save(tmp_path / "model")
    assert {p.name for p in (tmp_path / "model").iterdir()} == {"model.pt", "registry.json"}
    reg = json.loads((tmp_path / "model" / "registry.json").read_text())
    assert reg["sample"] == "toy" and [t["name"] for t in reg["tracks"]] == trained.tracks
    assert reg["window"] == {"width": 64, "bin_size": 1} and reg["covariates"] == ["cov0", "cov1"]
    assert len(reg["covariate_mean"]) == 2 and reg["training"]["max_steps"] == 24 and reg["format_version"] == 1
    loaded = pt.tl.Prism.load(tmp_path / "model", adata=a)
    assert states_equal(trained.module, loaded.module)
    pd.testing.assert_frame_equal(trained.history_, loaded.history_)
    assert loaded.best_step_ == trained.best_step_ and loaded.is_trained_
    loaded.predict(key_added="after")
    np.testing.assert_array_equal(a.obs["before_pred"], a.obs["after_pred"])
    bare = pt.tl.Prism.load(tmp_path / "model")
    with pytest.raises(ValueError, match="pass adata="):
        bare.predict()
    bare.predict(a, key_added="bare")
    np.testing.assert_array_equal(a.obs["before_pred"], a.obs["bare_pred"])


def test_load_and_predict_mismatch(trained, tmp_path):
    trained.save(tmp_path / "m")
    wide = toy(width=128)
    with pytest.raises(ValueError, match="window"):
        pt.tl.Prism.load(tmp_path / "m", adata=wide)
    with pytest.raises(ValueError, match="window"):
        trained.predict(wide)
    renamed = toy()
    tab = renamed.uns["prism"]["tracks"]
    tab.loc[tab["name"] == "DNase", "name"] = "ATAC"
    with pytest.raises(ValueError, match=r"tracks: \['DNase'\] not found"):
        trained.predict(renamed)
    role = toy()
    tab = role.uns["prism"]["tracks"]
    tab.loc[tab["name"] == "H3K27ac", "role"] = "background"
    with pytest.raises(ValueError, match="role=background"):
        pt.tl.Prism.load(tmp_path / "m", adata=role)
    fewer = toy(n_covariates=1)
    with pytest.raises(ValueError, match=r"covariates: \['cov1'\] missing"):
        trained.predict(fewer)


def test_corrupt_or_incompatible_files(trained, tmp_path):
    d = tmp_path / "m"
    trained.save(d)
    data = (d / "model.pt").read_bytes()
    (d / "model.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        pt.tl.Prism.load(d)
    trained.save(d)
    reg = json.loads((d / "registry.json").read_text())
    reg["format_version"] = 99
    (d / "registry.json").write_text(json.dumps(reg))
    with pytest.raises(CheckpointError, match="format version 99"):
        pt.tl.Prism.load(d)
    trained.save(d)
    obj = torch.load(d / "model.pt", weights_only=True)
    obj["format_version"] = 2
    torch.save(obj, d / "model.pt")
    with pytest.raises(ValueError, match="format version 2"):
        pt.tl.Prism.load(d)
    (d / "registry.json").write_text("{not json")
    with pytest.raises(ValueError, match="corrupt JSON"):
        pt.tl.Prism.load(d)
    with pytest.raises(FileNotFoundError):
        pt.tl.Prism.load(tmp_path / "nowhere")


def test_stratum_effects(trained):
    import scanpy as sc

    a = trained.adata.copy()
    trained.stratum_effects(a, key_added="prism")
    n, k, d = a.n_obs, 2, 8
    assert a.obsm["prism_gates"].shape == (n, k, d) and a.obsm["prism_gates"].dtype == np.float32
    assert ((a.obsm["prism_gates"] > 0) & (a.obsm["prism_gates"] < 1)).all()
    assert a.obsm["prism_stratum_pred"].shape == (n, k)
    assert a.obsm["X_prism"].shape == (n, d)
    for col in ("prism_pred", "prism_do_pred"):
        assert a.obs[col].shape == (n,) and np.isfinite(a.obs[col]).all()
    assert isinstance(a.obs["prism_stratum"].dtype, pd.CategoricalDtype)
    assert list(a.obs["prism_stratum"].cat.categories) == ["stratum_0", "stratum_1"]
    before = set(trained.adata.uns["prism"])
    assert set(a.uns["prism"]) == before  # uns["prism"] is the data model only: results go under their own key
    uns = a.uns["prism_stratum_effects"]
    assert uns["params"]["sample"] == "toy" and uns["params"]["n_strata"] == 2
    strata = uns["strata"]
    assert list(strata.index) == ["stratum_0", "stratum_1"]
    expected = ["n_genes", "mean_gate", "sd_gate", "mean_effect", "mean_abs_effect",
                "corr_H3K27ac", "corr_DNase", "corr_track2"]
    assert list(strata.columns) == expected
    gene_gate = a.obsm["prism_gates"].mean(axis=2)
    assert strata.loc["stratum_1", "mean_gate"] == pytest.approx(gene_gate[:, 1].mean(), rel=1e-5)
    eff = a.obsm["prism_stratum_pred"][:, 0] - a.obs["prism_pred"].to_numpy()
    assert strata.loc["stratum_0", "mean_abs_effect"] == pytest.approx(np.abs(eff).mean(), rel=1e-5)
    tmean = a.obsm["tracks"][:, 0, :].mean(axis=1)
    assert strata.loc["stratum_0", "corr_H3K27ac"] == pytest.approx(np.corrcoef(gene_gate[:, 0], tmean)[0, 1], rel=1e-4)
    assert strata["n_genes"].sum() == n and sum(uns["n_genes_by_stratum"].values()) == n
    # predictions agree with predict(); the embedding is usable by scanpy
    b = trained.adata.copy()
    trained.predict(b)
    np.testing.assert_allclose(a.obs["prism_pred"], b.obs["prism_pred"], rtol=1e-6)
    sc.pp.neighbors(a, use_rep="X_prism", n_neighbors=5, method="gauss")
    assert "connectivities" in a.obsp


def test_concatenation_baseline(adata):
    m = pt.tl.Prism(adata, sample="toy", alpha=0.0, **SMALL)
    assert not m.module.config["intervene"] and "baseline" in repr(m)
    m.fit(max_steps=2, **FIT)
    m.predict()
    assert np.isfinite(adata.obs["prism_pred"]).all()
    with pytest.raises(ValueError, match="alpha=0"):
        m.stratum_effects()


def test_input_variants_and_binned_tracks(caplog):
    a = toy(width=64)
    # bin the tracks at 4 bp: 16 bins, upsampled to the 64-bp sequence in the pipeline
    a.obsm["tracks"] = a.obsm["tracks"].reshape(a.n_obs, 3, 16, 4).mean(axis=3)
    a.uns["prism"]["window"]["bin_size"] = 4
    m = pt.tl.Prism(a, sample="toy", **SMALL)
    m.fit(max_steps=2, **FIT)
    m.stratum_effects()
    assert a.obsm["prism_gates"].shape == (a.n_obs, 2, 8)
    sig = pt.tl.Prism(a, sample="toy", use_sequence=False, tracks=["H3K27ac", "DNase"], covariates=False, **SMALL)
    assert sig.module.config["n_tracks"] == 2 and sig.module.config["n_covariates"] == 0
    sig.fit(max_steps=2, **FIT)
    sig.predict(key_added="sig")
    assert np.isfinite(a.obs["sig_pred"]).all()
    with caplog.at_level(logging.WARNING, logger="prismtools"):
        seq = pt.tl.Prism(a, sample="toy", tracks=[], covariates=["cov1"], **SMALL)
    assert "sequence-only" in caplog.text and not seq.intervene
    seq.fit(max_steps=2, **FIT)
    seq.predict(key_added="seq")
    assert np.isfinite(a.obs["seq_pred"]).all()
    with pytest.raises(ValueError, match="no inputs"):
        pt.tl.Prism(a, sample="toy", tracks=[], use_sequence=False)


def test_errors(adata):
    with pytest.raises(KeyError, match=r"available samples: \['toy'\]"):
        pt.tl.Prism(adata, sample="K562")
    with pytest.raises(KeyError, match="Available tracks"):
        pt.tl.Prism(adata, sample="toy", tracks=["H3K4me3"])
    with pytest.raises(KeyError, match="Available covariates"):
        pt.tl.Prism(adata, sample="toy", covariates=["gc"])
    with pytest.raises(ValueError, match="alpha"):
        pt.tl.Prism(adata, sample="toy", alpha=-1)
    m = pt.tl.Prism(adata, sample="toy", **SMALL)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            m.fit(max_steps=1, device="cuda")
    with pytest.raises(ValueError, match="precision"):
        m.fit(max_steps=1, device="cpu", precision="64")
    with pytest.raises(ValueError, match="16-mixed"):
        m.fit(max_steps=1, device="cpu", precision="16-mixed")
    with pytest.raises(ValueError, match="checkpoint_dir"):
        m.fit(max_steps=1, device="cpu", resume=True)
    nosplit = toy()
    del nosplit.obs["split"]
    with pytest.raises(KeyError, match="split_chromosomes"):
        pt.tl.Prism(nosplit, sample="toy", **SMALL).fit(max_steps=1, device="cpu")
    notrain = toy()
    notrain.obs["split"] = pd.Categorical(["test"] * notrain.n_obs, categories=["train", "valid", "test"])
    with pytest.raises(ValueError, match="No training genes"):
        pt.tl.Prism(notrain, sample="toy", **SMALL).fit(max_steps=1, device="cpu")


def test_nan_targets_and_covariates(caplog):
    a = toy()
    split = a.obs["split"].to_numpy()
    train, valid = np.flatnonzero(split == "train"), np.flatnonzero(split == "valid")
    a.X[train[:3], 0] = np.nan
    a.X[valid[:2], 0] = np.nan
    a.obsm["covariates"][train[5], 1] = np.nan
    with caplog.at_level(logging.WARNING, logger="prismtools"):
        m = pt.tl.Prism(a, sample="toy", **SMALL)
        m.fit(max_steps=2, **FIT)
    assert "Dropped 5 genes with NaN expression for sample 'toy' (3 train, 2 valid)" in caplog.text
    assert "1 covariate values (in 1 genes)" in caplog.text
    assert m.registry["training"]["n_train"] == len(train) - 3
    m.predict()
    assert np.isfinite(a.obs["prism_pred"]).all()  # NaN-target genes are still predicted


def test_no_validation_genes_keeps_last(caplog):
    a = toy()
    a.obs["split"] = pd.Categorical(np.where(a.obs["split"] == "valid", "train", a.obs["split"]))
    with caplog.at_level(logging.WARNING, logger="prismtools"):
        m = pt.tl.Prism(a, sample="toy", **SMALL)
        m.fit(max_steps=4, **FIT)
    assert "No validation genes" in caplog.text
    assert m.best_step_ == 4 and m.history_["val_mse"].isna().all()


def test_dask_backed_obsm(trained, monkeypatch):
    import dask.array as da

    a = trained.adata.copy()
    lazy = a.copy()
    lazy.obsm["sequence"] = da.from_array(a.obsm["sequence"], chunks=(16, -1))
    lazy.obsm["tracks"] = da.from_array(a.obsm["tracks"], chunks=(16, -1, -1))
    # the same weights give the same predictions from lazy arrays (read chunk by chunk)
    trained.predict(a, key_added="eager")
    trained.predict(lazy, key_added="lazy")
    np.testing.assert_array_equal(a.obs["eager_pred"], lazy.obs["lazy_pred"])
    # training from lazy arrays, with DataLoader worker processes
    monkeypatch.setattr(pt.settings, "n_jobs", 2)
    m = pt.tl.Prism(lazy, sample="toy", **SMALL)
    m.fit(max_steps=4, **FIT)
    m.predict()
    assert np.isfinite(lazy.obs["prism_pred"]).all()
    assert isinstance(lazy.obsm["tracks"], da.Array)  # never materialised into the AnnData


def test_zarr_store_roundtrip(tmp_path):
    a = toy()
    pt.io.write(a, tmp_path / "toy.zarr", chunk_genes=16)
    lazy = pt.io.read(tmp_path / "toy.zarr")
    assert hasattr(lazy.obsm["tracks"], "compute")
    m = pt.tl.Prism(lazy, sample="toy", **SMALL)
    m.fit(max_steps=2, **FIT)
    m.predict()
    assert np.isfinite(lazy.obs["prism_pred"]).all()


def test_progress_bar_runs(adata, monkeypatch):
    monkeypatch.setattr(pt.settings, "progress", True)
    m = pt.tl.Prism(adata, sample="toy", **SMALL)
    m.fit(max_steps=1, progress=True, **FIT)
    assert len(m.history_) == 1  # the last step always validates


def test_distributed_helpers(monkeypatch):
    from prismtools.tl import _device

    assert _device.distributed_env().world_size == 1 and not _device.distributed_env().enabled
    assert _device.trainer_devices("cpu").strategy == "auto"
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    env = _device.distributed_env()
    assert (env.rank, env.local_rank, env.world_size, env.is_main) == (3, 1, 4, False)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    where = _device.trainer_devices("cpu")  # under torchrun: one Lightning DDP rank per process
    assert (where.devices, where.num_nodes, where.strategy) == (2, 2, "ddp_find_unused_parameters_true")
    from prismtools.tl._data import GeneBatchSampler

    genes = np.arange(50)
    shards = [GeneBatchSampler(genes, 4, seed=1, rank=r, world_size=3).epoch_batches(0) for r in range(3)]
    assert len({len(s) for s in shards}) == 1  # every rank does the same number of steps
    seen = np.concatenate([b for s in shards for b in s])
    assert set(seen) == set(genes)


@pytest.mark.slow
def test_ddp_two_processes_gloo(tmp_path):
    """Two CPU processes under torchrun: DDP + gloo, rank 0 alone writes checkpoints."""
    import subprocess
    import sys

    script = tmp_path / "ddp_fit.py"
    script.write_text(
        "import os, torch, prismtools as pt\n"
        "pt.settings.progress = False\n"
        "a = pt.datasets.toy(n_genes=96, width=64)\n"
        "m = pt.tl.Prism(a, sample='toy', d_model=8, n_layers=1)\n"
        f"m.fit(max_steps=4, lr=3e-3, warmup_steps=1, device='cpu', checkpoint_dir=r'{tmp_path / 'ck'}')\n"
        "rank = int(os.environ['RANK'])\n"
        f"torch.save(m.module.state_dict(), r'{tmp_path}' + f'/rank{{rank}}.pt')\n"
        "assert not torch.distributed.is_initialized()\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    s0, s1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    assert all(torch.equal(s0[k], s1[k]) for k in s0)  # gradients were all-reduced: replicas agree
    assert (tmp_path / "ck" / "last.pt").is_file()


def _flip_tensor_byte(path, *, entry_index: int = -1) -> None:
    """Flip a high exponent bit inside the largest tensor record of a torch zip file (leaving the zip readable)."""
    import zipfile

    with zipfile.ZipFile(path) as z:
        infos = sorted((i for i in z.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
        info = infos[entry_index]
    raw = bytearray(path.read_bytes())
    name_len, extra_len = int.from_bytes(raw[info.header_offset + 26 : info.header_offset + 28], "little"), int.from_bytes(
        raw[info.header_offset + 28 : info.header_offset + 30], "little"
    )
    start = info.header_offset + 30 + name_len + extra_len
    for k in range(3, info.file_size, 4):  # the top byte of every float32 value: NaN/huge after the flip
        raw[start + k] ^= 0x7F
    path.write_bytes(bytes(raw))


def test_bit_flipped_saved_model_is_refused(trained, tmp_path):
    d = tmp_path / "m"
    trained.save(d)
    _flip_tensor_byte(d / "model.pt")
    with pytest.raises(CheckpointError, match=r"model\.pt.*(hash|checksum)"):
        pt.tl.Prism.load(d)


def test_truncated_or_bit_flipped_training_checkpoint_is_refused(adata, tmp_path):
    pt.tl.Prism(adata, sample="toy", **SMALL).fit(max_steps=4, checkpoint_dir=tmp_path / "ck", **FIT)
    last = tmp_path / "ck" / "last.pt"
    good = last.read_bytes()
    _flip_tensor_byte(last)
    with pytest.raises(CheckpointError, match=r"last\.pt.*(hash|checksum)"):
        pt.tl.Prism(adata, sample="toy", **SMALL).fit(max_steps=8, checkpoint_dir=tmp_path / "ck", resume=True, **FIT)
    last.write_bytes(good[: len(good) * 2 // 3])
    with pytest.raises(CheckpointError, match=r"last\.pt.*corrupt or truncated"):
        pt.tl.Prism(adata, sample="toy", **SMALL).fit(max_steps=8, checkpoint_dir=tmp_path / "ck", resume=True, **FIT)


def test_refused_resume_names_the_difference(adata, tmp_path):
    pt.tl.Prism(adata, sample="toy", **SMALL).fit(max_steps=2, checkpoint_dir=tmp_path / "ck", **FIT)
    with pytest.raises(ValueError, match="different inputs") as err:
        pt.tl.Prism(adata, sample="toy", n_strata=3, **SMALL).fit(
            max_steps=4, checkpoint_dir=tmp_path / "ck", resume=True, **FIT
        )
    msg = str(err.value)
    assert "n_strata" in msg and "2" in msg and "3" in msg
    assert "covariate_mean" not in msg and "window" not in msg  # only what differs, not both whole registries


def test_csv_logger_writes_the_curves(adata, tmp_path):
    m = pt.tl.Prism(adata, sample="toy", **SMALL)
    m.fit(max_steps=6, checkpoint_dir=tmp_path / "ck", **FIT)  # the default logger: CSV next to the checkpoints
    (csv,) = (tmp_path / "ck" / "logs").glob("version_*/metrics.csv")
    logged = pd.read_csv(csv)
    assert logged["step"].tolist() == m.history_["step"].tolist()
    np.testing.assert_allclose(logged["val_mse"], m.history_["val_mse"], rtol=1e-6)
    np.testing.assert_allclose(logged["train_loss"], m.history_["train_loss"], rtol=1e-6)
    from lightning.pytorch.loggers import CSVLogger

    m2 = pt.tl.Prism(adata, sample="toy", **SMALL)
    m2.fit(max_steps=2, logger=CSVLogger(tmp_path / "mine", name="run"), **FIT)  # a logger of the user's own
    assert list((tmp_path / "mine" / "run").glob("version_*/metrics.csv"))
    m3 = pt.tl.Prism(adata, sample="toy", **SMALL)
    m3.fit(max_steps=2, checkpoint_dir=tmp_path / "nolog", logger=False, **FIT)
    assert not (tmp_path / "nolog" / "logs").exists()


def test_early_stopping_stops(adata):
    m = pt.tl.Prism(adata, sample="toy", **SMALL)
    # lr so large that validation cannot keep improving: patience 1 must end the run well before max_steps
    m.fit(max_steps=200, lr=0.5, warmup_steps=0, device="cpu", early_stopping=True, early_stopping_patience=1)
    h = m.history_
    assert h["step"].iloc[-1] < 200
    best = h["val_mse"].min()
    after = h.loc[h["step"] > m.best_step_, "val_mse"]
    assert len(after) == 1 and (after >= best).all()  # stopped at the first validation without improvement
    assert m.best_step_ == h.loc[h["val_mse"].idxmin(), "step"]


def test_lightning_device_keywords_match_device(adata):
    a = pt.tl.Prism(adata, sample="toy", seed=2, **SMALL)
    a.fit(max_steps=4, lr=3e-3, warmup_steps=2, device="cpu")
    b = pt.tl.Prism(adata, sample="toy", seed=2, **SMALL)
    b.fit(max_steps=4, lr=3e-3, warmup_steps=2, accelerator="cpu", devices=1, precision="32-true")
    assert states_equal(a.module, b.module)
    rng = torch.get_rng_state()
    pt.tl.Prism(adata, sample="toy", **SMALL).fit(max_steps=1, **FIT)
    assert torch.equal(rng, torch.get_rng_state())  # the user's global RNG is left alone


@pytest.fixture(scope="module")
def two_biosamples(tmp_path_factory):
    """Simulated genome with biosamples A and B (own background states and peaks), binned 2-kb windows."""
    sim = pt.datasets.simulate(tmp_path_factory.mktemp("sim") / "g", n_genes=400, chromosomes=3,
                               chrom_size=2_000_000, samples=["A", "B"], seed=1, hic=False)
    a = pt.pp.read_genes(sim.gtf)
    for s in ("A", "B"):
        pt.pp.add_expression(a, sim.expression, sample=s, gene_key="gene_id", value=s)
    pt.pp.set_window(a, 2000, bin_size=50)
    for s in ("A", "B"):
        pt.pp.add_track(a, sim.bigwigs[s]["H3K27ac"], name="H3K27ac", sample=s, role="foreground")
        pt.pp.add_track(a, sim.bigwigs[s]["DNase"], name="DNase", sample=s, role="background")
    pt.pp.split_chromosomes(a, test="chr3", valid="chr2")
    return a


def test_predict_another_biosample(two_biosamples):
    a = two_biosamples.copy()
    m = pt.tl.Prism(a, sample="A", use_sequence=False, d_model=16, n_layers=1, alpha=0.0, seed=0)
    m.fit(max_steps=150, batch_size=16, lr=3e-3, warmup_steps=10, device="cpu", progress=False)
    m.predict(a, sample="B", key_added="B")
    m.predict(a, key_added="A")
    assert not np.array_equal(a.obs["A_pred"], a.obs["B_pred"])  # B's tracks were read, not A's
    shuffled = a.copy()  # B's tracks of other genes: what a model that ignores the biosample would see
    b_tracks = np.flatnonzero(shuffled.uns["prism"]["tracks"]["sample"].to_numpy() == "B")
    t = np.array(shuffled.obsm["tracks"])
    t[:, b_tracks] = t[np.random.default_rng(0).permutation(a.n_obs)][:, b_tracks]
    shuffled.obsm["tracks"] = t
    m.predict(shuffled, sample="B", key_added="B")
    test = (a.obs["split"] == "test").to_numpy()
    y_b = a[:, "B"].X.ravel()[test]
    r_b = np.corrcoef(a.obs["B_pred"].to_numpy()[test], y_b)[0, 1]
    r_shuffled = np.corrcoef(shuffled.obs["B_pred"].to_numpy()[test], y_b)[0, 1]
    assert r_b > 0.4 and r_b - r_shuffled > 0.3, (r_b, r_shuffled)
    with pytest.raises(ValueError, match="of sample 'C'"):
        m.predict(a, sample="C")


def test_split_key_and_default_seed(adata, monkeypatch):
    a = adata.copy()
    a.obs["fold"] = a.obs["split"]
    del a.obs["split"]
    m = pt.tl.Prism(a, sample="toy", split_key="fold", **SMALL)
    m.fit(max_steps=2, **FIT)
    assert m.registry["training"]["n_train"] == (a.obs["fold"] == "train").sum()
    b = pt.tl.Prism(a, sample="toy", **SMALL)
    with pytest.raises(KeyError, match="'split'"):
        b.fit(max_steps=2, **FIT)
    b.fit(max_steps=2, split_key="fold", **FIT)
    monkeypatch.setattr(pt.settings, "seed", 7)
    assert pt.tl.Prism(a, sample="toy", split_key="fold", **SMALL).seed == 7
    assert states_equal(pt.tl.Prism(a, sample="toy", split_key="fold", **SMALL).module,
                        pt.tl.Prism(a, sample="toy", split_key="fold", seed=7, **SMALL).module)


def test_bf16_autocast_keeps_float32_weights(adata):
    m = pt.tl.Prism(adata, sample="toy", **SMALL)
    m.fit(max_steps=4, lr=3e-3, warmup_steps=1, device="cpu", precision="bf16")  # Lightning's "bf16-mixed"
    assert m.precision_ == "bf16" and {p.dtype for p in m.module.parameters()} == {torch.float32}
    assert np.isfinite(m.history_["train_loss"]).all() and np.isfinite(m.history_["val_mse"]).all()


@pytest.mark.slow
def test_ddp_notebook_two_cpu_processes(adata):
    """devices=2 with the notebook-safe strategy: Lightning forks; weights and curves come back to the caller."""
    m = pt.tl.Prism(adata, sample="toy", **SMALL)
    m.fit(max_steps=4, lr=3e-3, warmup_steps=1, accelerator="cpu", devices=2, strategy="ddp_notebook")
    assert m.history_["step"].iloc[-1] == 4 and m.best_step_ == m.history_.loc[m.history_["val_mse"].idxmin(), "step"]
    assert not torch.distributed.is_initialized()
    m.predict()
    assert np.isfinite(adata.obs["prism_pred"]).all()
    best = m.history_.loc[m.history_["step"] == m.best_step_, "val_mse"].item()
    res = pt.tl.evaluate(adata, pred_key="prism_pred", sample="toy", split=["valid"])
    assert res.loc["valid", "MSE"] == pytest.approx(best, rel=1e-5)  # the best weights came back
