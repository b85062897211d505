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
