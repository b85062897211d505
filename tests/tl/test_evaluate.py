"""pt.tl.evaluate against NumPy/SciPy on a hand-made case."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from anndata import AnnData
from scipy import stats

import prismtools as pt


@pytest.fixture
def hand():
    y = np.array([1.0, 2.0, 3.0, 4.0, np.nan, 0.5, 1.5, 2.5], dtype=np.float32)
    pred = np.array([1.5, 1.0, 3.5, 5.0, 2.0, 0.0, np.nan, 3.0])
    split = ["test", "test", "test", "test", "test", "valid", "valid", "valid"]
    obs = pd.DataFrame({"split": pd.Categorical(split, categories=["train", "valid", "test"]), "m_pred": pred},
                       index=[f"g{i}" for i in range(8)])
    return AnnData(X=np.column_stack([y, -y]), obs=obs, var=pd.DataFrame(index=["A", "B"]))


def test_metrics_match_numpy_scipy(hand):
    res = pt.tl.evaluate(hand, pred_key="m_pred", sample="A")
    assert list(res.index) == ["test"] and list(res.columns) == ["n", "MSE", "MAE", "Pearson", "Spearman", "R2"]
    y, p = np.array([1.0, 2, 3, 4]), np.array([1.5, 1.0, 3.5, 5.0])  # the NaN-target gene is left out
    row = res.loc["test"]
    assert row["n"] == 4
    assert row["MSE"] == pytest.approx(np.mean((p - y) ** 2))
    assert row["MAE"] == pytest.approx(np.mean(np.abs(p - y)))
    assert row["Pearson"] == pytest.approx(stats.pearsonr(p, y)[0])
    assert row["Spearman"] == pytest.approx(stats.spearmanr(p, y)[0])
    assert row["R2"] == pytest.approx(1 - np.sum((p - y) ** 2) / np.sum((y - y.mean()) ** 2))
    assert row["MSE"] == pytest.approx(0.625) and row["MAE"] == pytest.approx(0.75)


def test_splits_keys_and_errors(hand, caplog):
    res = pt.tl.evaluate(hand, pred_key="m", sample="B", split=["valid", "test", "train"])  # "m" -> "m_pred"
    assert list(res.index) == ["valid", "test", "train"]
    assert res.loc["valid", "n"] == 2 and res.loc["train", "n"] == 0 and np.isnan(res.loc["train", "MSE"])
    assert "No genes in split 'train'" in caplog.text
    allg = pt.tl.evaluate(hand, pred_key="m_pred", sample="A", split=None)
    assert list(allg.index) == ["all"] and allg.loc["all", "n"] == 6
    with pytest.raises(KeyError, match="prediction columns present"):
        pt.tl.evaluate(hand, pred_key="nope", sample="A")
    with pytest.raises(KeyError, match="available samples"):
        pt.tl.evaluate(hand, pred_key="m_pred", sample="C")
    del hand.obs["split"]
    with pytest.raises(KeyError, match="split_chromosomes"):
        pt.tl.evaluate(hand, pred_key="m_pred", sample="A")
