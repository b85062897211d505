"""The paper's analyses on the toy dataset: length sweep, signal ablation, seeds, attributions (CPU, tiny)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import prismtools as pt

SMALL = {"d_model": 8, "n_layers": 1}
FIT = {"lr": 3e-3, "warmup_steps": 2, "device": "cpu", "progress": False}
METRIC_COLS = ["n", "MSE", "MAE", "Pearson", "Spearman", "R2"]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models run fastest on one thread, above all on a shared machine."""
    old, old_torch = pt.settings.num_threads, torch.get_num_threads()
    pt.settings.num_threads = 1
    yield
    pt.settings.num_threads = old
    torch.set_num_threads(old_torch)


def toy(**kw):
    kw.setdefault("n_genes", 96)
    kw.setdefault("width", 128)
    return pt.datasets.toy(**kw)


@pytest.fixture(scope="module")
def trained():
    """A tiny Prism trained long enough to pick up the planted foreground peak."""
    a = toy()
    model = pt.tl.Prism(a, sample="toy", seed=0, **SMALL)
    model.fit(max_steps=60, **FIT)
    return model


# ------------------------------------------------------------------------------------------- seeds, evaluate


def test_summarize_seeds_by_hand():
    df = pd.DataFrame({
        "length": [10, 10, 10, 20, 20],
        "split": "test",
        "seed": [0, 1, 2, 0, 1],
        "n": [5, 5, 4, 5, 5],
        "MSE": [1.0, 2.0, 3.0, 0.5, np.nan],
        "Pearson": [0.1, 0.2, 0.3, 0.9, 0.7],
    })
    s = pt.tl.summarize_seeds(df)
    assert list(s.columns) == ["length", "split", "n_seeds", "n", "MSE_mean", "MSE_sd", "Pearson_mean", "Pearson_sd"]
    assert s["length"].tolist() == [10, 20] and s["n_seeds"].tolist() == [3, 2] and s["n"].tolist() == [4, 5]
    assert s.loc[0, "MSE_mean"] == pytest.approx(2.0) and s.loc[0, "MSE_sd"] == pytest.approx(1.0)
    assert s.loc[1, "MSE_mean"] == pytest.approx(0.5) and np.isnan(s.loc[1, "MSE_sd"])  # one finite value
    assert s.loc[1, "Pearson_sd"] == pytest.approx(np.std([0.9, 0.7], ddof=1))
    only = pt.tl.summarize_seeds(df, by="length", metrics=["MSE"])
    assert list(only.columns) == ["length", "n_seeds", "n", "MSE_mean", "MSE_sd"]
    with pytest.raises(KeyError, match="seed"):
        pt.tl.summarize_seeds(df.drop(columns="seed"))


def test_evaluate_several_prediction_keys():
    a = toy(n_genes=40, width=16)
    y = a.X[:, 0]
    rng = np.random.default_rng(0)
    keys = []
    for s in range(3):
        a.obs[f"m_s{s}_pred"] = y + rng.normal(0, 0.2 * (s + 1), a.n_obs)
        keys.append(f"m_s{s}_pred")
    res = pt.tl.evaluate(a, pred_key=keys, sample="toy", split=["valid", "test"])
    singles = [pt.tl.evaluate(a, pred_key=k, sample="toy", split=["valid", "test"]) for k in keys]
    assert list(res.index) == ["valid", "test"]
    assert list(res.columns[:2]) == ["n_keys", "n"] and res["n_keys"].eq(3).all()
    for m in ["MSE", "MAE", "Pearson", "Spearman", "R2"]:
        vals = np.array([t.loc["test", m] for t in singles])
        assert res.loc["test", f"{m}_mean"] == pytest.approx(vals.mean())
        assert res.loc["test", f"{m}_sd"] == pytest.approx(vals.std(ddof=1))
    pd.testing.assert_frame_equal(pt.tl.evaluate(a, pred_key=[keys[0]], sample="toy"), singles[0].loc[["test"]])
    with pytest.raises(KeyError, match="prediction columns present"):
        pt.tl.evaluate(a, pred_key=[keys[0], "nope"], sample="toy")


# ------------------------------------------------------------------------------------------- claim 1


def test_length_sweep_rows_uns_and_reproducibility():
    a = toy()
    before = set(a.obs.columns), a.obsm["sequence"].shape
    df = pt.tl.length_sweep(a, sample="toy", lengths=[32, 64, 128], seeds=(0, 1), fit_kwargs={"max_steps": 12, **FIT},
                            **SMALL)
    assert list(df.columns) == ["length", "split", "seed", *METRIC_COLS, "val_MSE", "best_step", "n_params", "seconds"]
    assert sorted(zip(df["length"], df["seed"])) == [(L, s) for L in (32, 64, 128) for s in (0, 1)]
    assert (df["split"] == "test").all() and (df["n"] == (a.obs["split"] == "test").sum()).all()
    assert np.isfinite(df[["MSE", "MAE", "val_MSE"]].to_numpy()).all()
    assert (set(a.obs.columns), a.obsm["sequence"].shape) == before  # adata itself is untouched
    entry = a.uns["length_sweep"]
    assert entry["results"] is df and entry["params"]["lengths"] == [32, 64, 128]
    assert entry["params"]["seeds"] == [0, 1] and entry["params"]["model_kwargs"] == SMALL
    summ = entry["summary"]
    assert summ["length"].tolist() == [32, 64, 128] and (summ["n_seeds"] == 2).all()
    assert np.isfinite(summ["MSE_sd"]).all()
    # a row is exactly what training that model by hand gives (CPU runs are bit-reproducible)
    crop = pt.pp.crop_window(a, 64, copy=True)
    m = pt.tl.Prism(crop, sample="toy", seed=1, **SMALL)
    m.fit(max_steps=12, **FIT)
    m.predict(crop, key_added="hand")
    ref = pt.tl.evaluate(crop, pred_key="hand_pred", sample="toy")
    row = df[(df["length"] == 64) & (df["seed"] == 1)].iloc[0]
    assert row["MSE"] == pytest.approx(ref.loc["test", "MSE"], rel=1e-6)
    assert row["n_params"] == m.n_params


def test_length_sweep_validates_before_training():
    a = toy(n_genes=16, width=64)
    with pytest.raises(ValueError, match=r"lengths \[66, 33\]"):
        pt.tl.length_sweep(a, sample="toy", lengths=[32, 66, 33])
    with pytest.raises(TypeError, match="seed"):
        pt.tl.length_sweep(a, sample="toy", lengths=[32], seed=3)
    with pytest.raises(ValueError, match="duplicates"):
        pt.tl.length_sweep(a, sample="toy", lengths=[32], seeds=[1, 1])


# ------------------------------------------------------------------------------------------- claim 2


def test_predict_removal_and_embedding(trained):
    a = trained.adata
    tr = a.obs["split"].to_numpy() == "train"
    means = trained.track_means()
    np.testing.assert_allclose(means, a.obsm["tracks"][tr].mean(axis=0), rtol=1e-5, atol=1e-6)
    for removal, fill in (("zero", np.zeros_like(means[1])), ("mean", means[1])):
        trained.predict(a, key_added="rm", remove_tracks=["DNase"], removal=removal)
        edited = a.copy()
        edited.obsm["tracks"] = edited.obsm["tracks"].copy()
        edited.obsm["tracks"][:, 1, :] = fill
        trained.predict(edited, key_added="hand")
        np.testing.assert_allclose(a.obs["rm_pred"], edited.obs["hand_pred"], rtol=1e-5, atol=1e-6)
    trained.predict(a, key_added="full")
    assert not np.allclose(a.obs["rm_pred"], a.obs["full_pred"])
    with pytest.raises(KeyError, match="not an input"):
        trained.predict(a, remove_tracks=["nope"])
    with pytest.raises(ValueError, match="removal"):
        trained.predict(a, remove_tracks=["DNase"], removal="drop")
    # embedding: the same pooled embedding that stratum_effects writes, usable by scanpy
    trained.predict(a, key_added="emb", embedding=True)
    emb = a.obsm["X_emb"]
    assert emb.shape == (a.n_obs, 8) and emb.dtype == np.float32
    np.testing.assert_allclose(a.obs["emb_pred"], a.obs["full_pred"])
    b = a.copy()
    trained.stratum_effects(b, key_added="prism")
    np.testing.assert_allclose(b.obsm["X_prism"], emb, rtol=1e-5, atol=1e-6)
    sc = pytest.importorskip("scanpy")
    sc.pp.neighbors(b, use_rep="X_prism", n_neighbors=8, random_state=0)
    sc.tl.umap(b, maxiter=20, random_state=0)
    assert b.obsm["X_umap"].shape == (a.n_obs, 2) and np.isfinite(b.obsm["X_umap"]).all()


def test_signal_ablation_rows_and_removal_uses_all_signals_model():
    a = toy(width=64)
    fit = {"max_steps": 9, **FIT}
    df = pt.tl.signal_ablation(a, sample="toy", seeds=(0,), removal="zero", fit_kwargs=fit, **SMALL)
    assert list(df.columns) == ["setting", "tracks", "role", "split", "seed", *METRIC_COLS]
    pairs = list(zip(df["setting"], df["tracks"], df["role"]))
    assert pairs == [
        ("trained_on", "H3K27ac", "foreground"), ("trained_on", "DNase", "background"),
        ("trained_on", "track2", "background"), ("trained_on", "all", "all"), ("trained_on", "none", "none"),
        ("removed_at_test", "none", "none"), ("removed_at_test", "H3K27ac", "foreground"),
        ("removed_at_test", "DNase", "background"), ("removed_at_test", "track2", "background"),
        ("removed_at_test", "background", "background"),
    ]
    rows = df.set_index(["setting", "tracks"])
    # nothing removed = the all-signals model as trained
    pd.testing.assert_series_equal(rows.loc[("removed_at_test", "none"), METRIC_COLS],
                                   rows.loc[("trained_on", "all"), METRIC_COLS], check_names=False)
    # a removal row is the all-signals model evaluated on data with that track zeroed (trained here by hand)
    m = pt.tl.Prism(a, sample="toy", tracks=["H3K27ac", "DNase", "track2"], seed=0, **SMALL)
    m.fit(**fit)
    edited = a.copy()
    edited.obsm["tracks"] = edited.obsm["tracks"].copy()
    edited.obsm["tracks"][:, [1, 2], :] = 0
    m.predict(edited, key_added="hand")
    ref = pt.tl.evaluate(edited, pred_key="hand_pred", sample="toy")
    assert rows.loc[("removed_at_test", "background"), "MSE"] == pytest.approx(ref.loc["test", "MSE"], rel=1e-6)
    assert "hand_pred" not in a.obs and "_analysis_pred" not in a.obs
    entry = a.uns["signal_ablation"]
    assert entry["params"]["removal"] == "zero"
    assert entry["params"]["roles"] == ["foreground", "background", "background"]
    assert len(entry["summary"]) == 10 and (entry["summary"]["n_seeds"] == 1).all()


def test_signal_ablation_subset_and_signals_only(tmp_path):
    a = toy(n_genes=48, width=64)
    fit = {"max_steps": 3, "checkpoint_dir": tmp_path, **FIT}
    df = pt.tl.signal_ablation(a, sample="toy", tracks=["H3K27ac", "DNase"], seeds=[3, 4], use_sequence=False,
                               alpha=0.0, fit_kwargs=fit, **SMALL)
    assert set(df["seed"]) == {3, 4}
    assert (tmp_path / "trained_on_all_seed_4" / "best.pt").is_file()  # one checkpoint directory per model
    assert len(list(tmp_path.iterdir())) == 6
    got = {(s, t) for s, t in zip(df["setting"], df["tracks"])}
    assert got == {("trained_on", "H3K27ac"), ("trained_on", "DNase"), ("trained_on", "all"),
                   ("removed_at_test", "none"), ("removed_at_test", "H3K27ac"), ("removed_at_test", "DNase")}
    assert len(df) == 12  # no sequence-only model, one background track -> no "background" group
    with pytest.raises(ValueError, match="removal"):
        pt.tl.signal_ablation(a, sample="toy", removal="nan")


# ------------------------------------------------------------------------------------------- attribution


class LinearNet(nn.Module):
    """pred = sum_l p_l * (one-hot_l . w) + sum_{t,l} v_{t,l} * track_{t,l} + c . cov: attributions known exactly."""

    def __init__(self, width: int, n_tracks: int, n_cov: int, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.seq_embed = nn.Linear(4, 1)
        self.pos = nn.Parameter(torch.randn(width, generator=g))
        self.trk = nn.Parameter(torch.zeros(n_tracks, width))
        self.cov = nn.Parameter(torch.randn(n_cov, generator=g))

    def _embed_sequence(self, sequence):
        w = self.seq_embed.weight
        table = torch.cat([w.t(), w.new_zeros(1, 1)], dim=0)
        return nn.functional.embedding(sequence.long(), table) + self.seq_embed.bias

    def embed_onehot(self, onehot):  # the attribution hook of PrismNet: embedding in, prediction out
        return onehot @ self.seq_embed.weight.t() + self.seq_embed.bias

    def predict_from_embedding(self, emb, tracks, covariates):
        return (emb[..., 0] * self.pos).sum(1) + (tracks * self.trk).sum((1, 2)) + covariates @ self.cov

    def forward(self, sequence, tracks, covariates):
        return {"pred": self.predict_from_embedding(self._embed_sequence(sequence), tracks, covariates)}


def linear_model(a, bin_size=1):
    m = pt.tl.Prism(a, sample="toy", alpha=0.0, **SMALL)
    width = a.uns["prism"]["window"]["width"]
    net = LinearNet(width, 3, 2)
    with torch.no_grad():
        net.trk[0, width // 2 - 7 : width // 2 + 8] = 1.0  # the foreground track counts only within 7 bp
        net.trk[1] = 0.1
    m.module = net
    return m, net


def expected_linear(a, net, bin_size=1):
    codes = a.obsm["sequence"].astype(int)
    w = net.seq_embed.weight.detach().numpy()[0]
    w5 = np.r_[w, 0.0]
    seq = w5[codes] * net.pos.detach().numpy()[None, :]  # zero baseline: bias cancels
    v = net.trk.detach().numpy()
    if bin_size > 1:  # a bin's weight is the sum of its bases' weights
        v = v.reshape(v.shape[0], -1, bin_size).sum(-1)
    trk = a.obsm["tracks"] * v[None]
    return seq, trk


@pytest.mark.parametrize("method", ["integrated_gradients", "saliency"])
def test_attribute_exact_on_linear_model(method):
    a = toy(n_genes=24, width=64)
    m, net = linear_model(a)
    pt.tl.attribute(m, a, method=method, n_steps=3, batch_size=7)
    seq, trk = expected_linear(a, net)
    np.testing.assert_allclose(a.obsm["attr_sequence"], seq, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a.obsm["attr_tracks"], trk, rtol=1e-5, atol=1e-6)
    assert a.obsm["attr_sequence"].dtype == np.float32 and a.obsm["attr_tracks"].shape == (24, 3, 64)
    p = a.uns["attr"]["params"]
    assert p["method"] == method and p["tracks"] == ["H3K27ac", "DNase", "track2"] and p["width"] == 64
    if method == "integrated_gradients":
        total = a.obsm["attr_sequence"].sum(1) + a.obsm["attr_tracks"].sum((1, 2))
        np.testing.assert_allclose(total, a.obs["attr_delta"], rtol=1e-4, atol=1e-5)
    # by distance: the foreground track's attribution lies within 8 bp, and each input's fractions sum to 1
    d = pt.tl.attribution_by_distance(a)
    assert a.uns["attr_by_distance"] is d
    assert set(d["input"]) == {"sequence", "H3K27ac", "DNase", "track2"}
    np.testing.assert_allclose(d.groupby("input")["fraction"].sum().drop("track2"), 1.0, rtol=1e-9)
    fg = d[d["input"] == "H3K27ac"]
    assert fg.loc[fg["dist_hi"] <= 8, "fraction"].sum() == pytest.approx(1.0)
    assert fg.loc[fg["dist_lo"] >= 8, "fraction"].sum() == 0
    assert (d["n_genes"][d["input"] != "track2"] == 24).all()
    assert (d["n_genes"][d["input"] == "track2"] == 0).all()  # weight 0: no attribution to summarise


def test_attribute_binned_tracks_and_gene_subset():
    a = toy(n_genes=12, width=64)
    a.obsm["tracks"] = a.obsm["tracks"].reshape(12, 3, 16, 4).mean(-1)
    a.uns["prism"]["window"]["bin_size"] = 4
    m, net = linear_model(a, bin_size=4)
    genes = list(a.obs_names[[1, 5, 6]])
    pt.tl.attribute(m, a, n_steps=2, genes=genes, key_added="b")
    seq, trk = expected_linear(a, net, bin_size=4)
    rows = [1, 5, 6]
    np.testing.assert_allclose(a.obsm["b_tracks"][rows], trk[rows], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a.obsm["b_sequence"][rows], seq[rows], rtol=1e-5, atol=1e-6)
    others = np.setdiff1d(np.arange(12), rows)
    assert np.isnan(a.obsm["b_tracks"][others]).all() and np.isnan(a.obsm["b_sequence"][others]).all()
    assert a.obsm["b_tracks"].shape == (12, 3, 16) and a.uns["b"]["params"]["n_genes"] == 3
    d = pt.tl.attribution_by_distance(a, key="b", bins=[0, 8, 16])
    assert d.loc[d["input"] == "sequence", "bin"].tolist() == ["0-8", "8-16", "16-33"]
    assert d.loc[d["input"] == "sequence", "n_positions"].tolist() == [15, 16, 33]
    assert (d.loc[d["input"] == "H3K27ac", "n_positions"] == [4, 4, 8]).all()  # 16 bins, centres at +/-1.5, ...
    np.testing.assert_allclose(d.groupby("input")["fraction"].sum().drop("track2"), 1.0)
    with pytest.raises(KeyError, match="attribute"):
        pt.tl.attribution_by_distance(a, key="nope")


def test_integrated_gradients_completeness_on_prism(trained):
    a = trained.adata
    genes = a.obs_names[:: 12]
    errs = {}
    for n in (4, 32):
        pt.tl.attribute(trained, a, n_steps=n, genes=genes, key_added=f"ig{n}")
        total = np.nansum(a.obsm[f"ig{n}_sequence"], 1) + np.nansum(a.obsm[f"ig{n}_tracks"], (1, 2))
        rows = a.obs_names.get_indexer(genes)
        errs[n] = np.abs(total[rows] - a.obs[f"ig{n}_delta"].to_numpy()[rows]).max()
        assert errs[n] == pytest.approx(a.uns[f"ig{n}"]["params"]["completeness_error_max"], rel=1e-3, abs=1e-7)
    scale = np.abs(a.obs["ig32_delta"].dropna()).mean()
    # the error shrinks at least like 1 / n_steps (ReLUs make the path gradient jump; smooth parts converge faster)
    assert errs[32] < errs[4] * (4 / 32) * 2
    assert errs[32] < 0.1 * scale
    # f(x) and f(baseline) that the deltas come from are the model's own predictions (full network)
    trained.predict(a, key_added="fx")
    base = a.copy()
    base.obsm["sequence"] = np.full_like(a.obsm["sequence"], 4)  # all N = the zero one-hot
    base.obsm["tracks"] = np.zeros_like(a.obsm["tracks"])
    trained.predict(base, key_added="f0")
    rows = a.obs_names.get_indexer(genes)
    want = a.obs["fx_pred"].to_numpy()[rows] - base.obs["f0_pred"].to_numpy()[rows]
    np.testing.assert_allclose(a.obs["ig32_delta"].to_numpy()[rows], want, rtol=1e-4, atol=1e-5)


def test_trained_model_attributes_foreground_near_tss(trained):
    a = trained.adata
    pt.tl.attribute(trained, a, n_steps=8, genes=a.obs_names[:32], key_added="near")
    d = pt.tl.attribution_by_distance(a, key="near", bins=[0, 16, 64])
    near = d[d["dist_hi"] == 16].set_index("input")["fraction"]
    # 32 of 128 positions lie within 16 bp; the planted foreground peak (SD 8 bp) puts most attribution there
    assert near["H3K27ac"] > 0.35 and near["H3K27ac"] > near["DNase"] + 0.1
    assert pt.tl.attribute.__module__ == "prismtools.tl._attribution"
    with pytest.raises(ValueError, match="method"):
        pt.tl.attribute(trained, a, method="shap")
    with pytest.raises(KeyError, match="obs_names"):
        pt.tl.attribute(trained, a, genes=["nope"])
