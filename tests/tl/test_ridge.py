"""pt.tl.ridge_baseline on the toy data, and the torch-free import of evaluate/ridge."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import prismtools as pt


def test_ridge_beats_the_mean():
    a = pt.datasets.toy(n_genes=400, width=128, seed=1)
    pt.tl.ridge_baseline(a, sample="toy")
    assert a.obs["ridge_pred"].dtype == np.float32 and np.isfinite(a.obs["ridge_pred"]).all()
    res = pt.tl.evaluate(a, pred_key="ridge_pred", sample="toy", split="test")
    y = a.X[:, 0]
    train_mean = y[(a.obs["split"] == "train").to_numpy()].mean()
    test = (a.obs["split"] == "test").to_numpy()
    mean_mse = np.mean((y[test] - train_mean) ** 2)
    assert res.loc["test", "MSE"] < 0.7 * mean_mse and res.loc["test", "Pearson"] > 0.5
    uns = a.uns["ridge"]
    assert uns["params"]["features"] == ["tss_H3K27ac", "tss_DNase", "tss_track2", "cov0", "cov1"]
    coef = uns["coef"]["coef"]
    assert coef["tss_H3K27ac"] > 0 and abs(coef["tss_H3K27ac"]) == coef.abs().max()  # the planted foreground signal
    assert a.uns["prism"]["window"]["width"] == 128


def test_ridge_features_grid_and_lazy():
    import dask.array as da

    a = pt.datasets.toy(n_genes=200, width=64)
    pt.tl.ridge_baseline(a, sample="toy", features=["H3K27ac", "cov0"], key_added="r1", alpha=[0.01, 1.0, 100.0, 1e6])
    uns = a.uns["r1"]
    assert uns["params"]["features"] == ["tss_H3K27ac", "cov0"]
    assert list(uns["alphas"]["alpha"]) == [0.01, 1.0, 100.0, 1e6]
    assert uns["params"]["alpha"] == uns["alphas"]["alpha"][uns["alphas"]["valid_mse"].idxmin()]
    lazy = a.copy()
    lazy.obsm["tracks"] = da.from_array(a.obsm["tracks"], chunks=(16, -1, -1))
    pt.tl.ridge_baseline(lazy, sample="toy", features=["H3K27ac", "cov0"], key_added="r1", alpha=uns["params"]["alpha"])
    np.testing.assert_allclose(lazy.obs["r1_pred"], a.obs["r1_pred"], rtol=1e-5, atol=1e-6)
    # the TSS feature: mean over the central 1 kb (whole 64-bp window here), log1p
    feat = np.log1p(a.obsm["tracks"][:, 0, :].astype(np.float64).mean(axis=1))
    from prismtools.tl._ridge import tss_signal

    np.testing.assert_allclose(np.log1p(tss_signal(a, [0])[:, 0]), feat, rtol=1e-10)
    central = tss_signal(a, [0], central_bp=8)[:, 0]
    np.testing.assert_allclose(central, a.obsm["tracks"][:, 0, 28:36].astype(np.float64).mean(axis=1), rtol=1e-6)
    with pytest.raises(KeyError, match="Available tracks"):
        pt.tl.ridge_baseline(a, sample="toy", features=["H3K4me3"])
    with pytest.raises(ValueError, match="overwrite"):
        pt.tl.ridge_baseline(a, sample="toy", key_added="prism")


def test_evaluate_and_ridge_do_not_import_torch():
    code = (
        "import sys, prismtools as pt\n"
        "assert 'torch' not in sys.modules\n"
        "a = pt.datasets.toy(n_genes=64, width=64)\n"
        "pt.tl.ridge_baseline(a, sample='toy'); pt.tl.evaluate(a, pred_key='ridge_pred', sample='toy')\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "pt.tl.Prism\n"
        "assert 'torch' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_ridge_does_not_log_transform_tracks_twice():
    """Tracks that normalize_tracks(method="log1p") already transformed (the track table says so) enter the ridge
    as they are; raw tracks get the sign-preserving log1p. Identical features, identical predictions."""
    a = pt.datasets.toy(n_genes=300, width=64, seed=2)
    b = a.copy()
    pt.pp.normalize_tracks(b, method="log1p")
    assert (pt.get_tracks(b).shape[1] == 3) and all(t == "log1p" for t in b.uns["prism"]["tracks"]["transform"])
    pt.tl.ridge_baseline(a, sample="toy", features=["H3K27ac"], key_added="raw")
    pt.tl.ridge_baseline(b, sample="toy", features=["H3K27ac"], key_added="logged")
    from prismtools.tl._ridge import tss_signal

    # the feature of the logged tracks is their TSS mean as stored, not log1p of it
    feat = tss_signal(b, [0])[:, 0]
    coef = b.uns["logged"]["coef"]
    np.testing.assert_allclose(coef.loc["tss_H3K27ac", "mean"], feat[(b.obs["split"] == "train").to_numpy()].mean(),
                               rtol=1e-6)
    assert b.uns["logged"]["params"]["track_transform"] == {"H3K27ac": "none (already log1p)"}
    assert a.uns["raw"]["params"]["track_transform"] == {"H3K27ac": "signed_log1p"}
    # the explicit choice still exists
    pt.tl.ridge_baseline(b, sample="toy", features=["H3K27ac"], key_added="forced", log1p=True)
    assert b.uns["forced"]["params"]["track_transform"] == {"H3K27ac": "signed_log1p"}


def test_ridge_and_evaluate_split_key():
    a = pt.datasets.toy(n_genes=200, width=64, seed=3)
    a.obs["myfold"] = a.obs["split"]
    del a.obs["split"]
    pt.tl.ridge_baseline(a, sample="toy", split_key="myfold")
    res = pt.tl.evaluate(a, pred_key="ridge_pred", sample="toy", split_key="myfold")
    assert res.loc["test", "n"] == int((a.obs["myfold"] == "test").sum())
    assert "ridge" in a.uns and "ridge" not in a.uns["prism"]
    assert a.uns["ridge"]["params"]["split_key"] == "myfold"
    with pytest.raises(KeyError, match="split"):
        pt.tl.ridge_baseline(a, sample="toy")


def test_one_metrics_module():
    from prismtools.tl import _evaluate, _metrics, _ridge
    from prismtools.pl import _predictions

    assert _evaluate.metrics is _metrics.regression_metrics
    assert _ridge.regression_metrics is _metrics.regression_metrics
    assert _predictions.regression_metrics is _metrics.regression_metrics
    m = _metrics.regression_metrics(np.array([1.0, 2.0, np.nan, 4.0]), np.array([1.0, 2.5, 3.0, np.inf]))
    assert m["n"] == 2 and m["MSE"] == pytest.approx(0.125)
    c = _metrics.regression_metrics(np.ones(5), np.arange(5.0))
    assert np.isnan(c["Pearson"]) and np.isnan(c["Spearman"]) and c["R2"] == pytest.approx(1 - 15 / 10)


def test_training_validation_and_strata_use_the_metrics_module():
    pytest.importorskip("torch")
    from prismtools.tl import _metrics, _strata, _training_plan

    assert _training_plan.validation_metrics is _metrics.validation_metrics
    assert _strata.pearson is _metrics.pearson
    y = np.array([0.0, 1.0, 2.0, 3.0])
    v = _metrics.validation_metrics(y + 0.5, y)
    assert v["mse"] == pytest.approx(0.25) and v["pearson"] == pytest.approx(1.0)
    # a NaN prediction is never left out during model selection: it poisons every metric
    assert np.isnan(_metrics.validation_metrics(np.array([0.0, np.nan, 2.0, 3.0]), y)["mse"])
