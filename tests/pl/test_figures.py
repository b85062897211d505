import matplotlib

matplotlib.use("agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

import prismtools as pt


@pytest.fixture
def fitted_like():
    """toy data with result keys as written by Prism.stratum_effects (values made up for drawing only)."""
    a = pt.datasets.toy(n_genes=40, width=32)
    rng = np.random.default_rng(0)
    a.obs["prism_pred"] = a.X[:, 0] + rng.normal(0, 0.1, a.n_obs)
    a.obs["prism_do_pred"] = a.obs["prism_pred"] + 0.05
    a.obsm["prism_gates"] = rng.random((a.n_obs, 2, 8)).astype(np.float32)
    a.obsm["prism_stratum_pred"] = np.stack([a.obs["prism_pred"] - 0.1, a.obs["prism_pred"] + 0.2], axis=1)
    a.uns["prism"]["strata"] = pd.DataFrame(
        {"mean_gate": [0.4, 0.6], "corr_H3K27ac": [0.1, -0.2], "corr_DNase": [0.8, -0.7], "corr_track2": [0, 0]},
        index=["stratum_0", "stratum_1"],
    )
    return a


def test_stratum_effects_draws_panels(fitted_like, tmp_path):
    axes = pt.pl.stratum_effects(fitted_like, key="prism", show=False, save=tmp_path / "s.png")
    assert (tmp_path / "s.png").stat().st_size > 1000
    assert len(axes) == 3
    assert [t.get_text() for t in axes[0].get_xticklabels()] == ["stratum_0", "stratum_1"]
    assert [t.get_text() for t in axes[1].get_xticklabels()] == ["stratum_0", "stratum_1", "do (adjusted)"]
    assert [t.get_text() for t in axes[2].get_xticklabels()] == ["H3K27ac", "DNase", "track2"]
    img = axes[2].get_images()[0].get_array()
    assert img.shape == (2, 3) and img[0, 1] == pytest.approx(0.8)
    # the effect boxes are centred where the data are: stratum 2 shifts predictions up by 0.2
    medians = [line.get_ydata()[0] for line in axes[1].lines if line.get_linestyle() == "-" and len(line.get_ydata()) == 2]
    assert any(abs(m - 0.2) < 1e-6 for m in medians)
    plt.close("all")


def test_stratum_effects_missing_keys():
    a = pt.datasets.toy(n_genes=10, width=16)
    with pytest.raises(KeyError, match="stratum_effects"):
        pt.pl.stratum_effects(a, show=False)


def test_predicted_vs_observed(fitted_like):
    ax = pt.pl.predicted_vs_observed(fitted_like, pred_key="prism_pred", split="test", show=False)
    n_test = int((fitted_like.obs["split"] == "test").sum())
    assert ax.collections[0].get_offsets().shape == (n_test, 2)
    assert ax.get_title().startswith(f"test genes: n={n_test}, r=")
    assert ax.get_xlabel() == "observed (toy)"
    plt.close("all")


def test_training_history():
    hist = pd.DataFrame({"step": [1, 2, 3, 4], "train_loss": [1.0, 0.5, 0.3, 0.2], "val_mse": [np.nan, 0.6, np.nan, 0.4]})
    ax = pt.pl.training_history(hist, show=False)
    assert len(ax.lines) == 2 and len(ax.lines[1].get_xdata()) == 2
    with pytest.raises(ValueError, match="fit the model"):
        pt.pl.training_history(hist.iloc[0:0], show=False)
    plt.close("all")
