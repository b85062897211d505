"""Figures of the analyses, rendered headless and checked on what was drawn."""

from __future__ import annotations

import matplotlib
import matplotlib.container

matplotlib.use("agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

import prismtools as pt


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


@pytest.fixture
def sweep():
    rows = []
    for L, base in ((500, 0.80), (2_000, 0.85), (20_000, 0.83), (200_000, 0.78)):
        for s, eps in zip((2, 22, 222), (-0.01, 0.0, 0.01)):
            rows.append({"length": L, "split": "test", "seed": s, "n": 50, "MSE": 1 - base, "Pearson": base + eps})
            rows.append({"length": L, "split": "valid", "seed": s, "n": 40, "MSE": 1.0, "Pearson": 0.1})
    return pd.DataFrame(rows)


@pytest.fixture
def ablation():
    rows = []
    spec = [("trained_on", "H3K27ac", "foreground", 0.20), ("trained_on", "DNase", "background", 0.30),
            ("trained_on", "all", "all", 0.18), ("trained_on", "none", "none", 0.25),
            ("removed_at_test", "none", "none", 0.18), ("removed_at_test", "H3K27ac", "foreground", 0.26),
            ("removed_at_test", "DNase", "background", 0.40)]
    for setting, tracks, role, mse in spec:
        for s, eps in zip((0, 1), (-0.02, 0.02)):
            rows.append({"setting": setting, "tracks": tracks, "role": role, "split": "test", "seed": s, "n": 30,
                         "MSE": mse + eps, "Pearson": 0.8})
    return pd.DataFrame(rows)


def test_length_curve(sweep, tmp_path):
    ax = pt.pl.length_curve(sweep, metric="Pearson", show=False, save=tmp_path / "len.png")
    assert (tmp_path / "len.png").stat().st_size > 1000
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "window length" and ax.get_ylabel() == "Pearson (test)"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["500 bp", "2 kb", "20 kb", "200 kb"]
    line = ax.containers[0].lines[0]  # the errorbar's data line: mean over seeds, test split only
    np.testing.assert_allclose(line.get_xdata(), [500, 2_000, 20_000, 200_000])
    np.testing.assert_allclose(line.get_ydata(), [0.80, 0.85, 0.83, 0.78])
    segs = ax.containers[0].lines[2][0].get_segments()  # error bars: mean +/- SD (SD of -0.01, 0, 0.01 is 0.01)
    assert len(segs) == 4 and segs[1][1][1] - segs[1][0][1] == pytest.approx(0.02)
    assert ax.collections[-1].get_offsets().shape == (12, 2)  # single seeds as dots
    assert any(np.allclose(ln.get_xdata(), 2_000) for ln in ax.lines)  # the 2 kb reference line
    assert "3 seed(s)" in ax.get_title()
    ax2 = pt.pl.length_curve(sweep, metric="MSE", split="valid", reference=None, show=False)
    np.testing.assert_allclose(ax2.containers[0].lines[0].get_ydata(), 1.0)
    with pytest.raises(KeyError, match="metric"):
        pt.pl.length_curve(sweep, metric="AUC", show=False)


def test_length_curve_from_adata(sweep):
    a = pt.datasets.toy(n_genes=8, width=16)
    with pytest.raises(KeyError, match="length_sweep"):
        pt.pl.length_curve(a, show=False)
    a.uns["length_sweep"] = {"params": {}, "results": sweep}
    fig, ax = plt.subplots()
    out = pt.pl.length_curve(a, ax=ax, show=False)
    assert out is ax and len(ax.containers) == 1


def test_signal_ablation(ablation):
    a = pt.datasets.toy(n_genes=8, width=16)
    a.uns["signal_ablation"] = {"params": {"removal": "mean"}, "results": ablation}
    axes = pt.pl.signal_ablation(a, metric="MSE", show=False)
    assert len(axes) == 2
    left, right = axes
    assert [t.get_text() for t in left.get_xticklabels()] == ["H3K27ac", "DNase", "all signals", "sequence only"]
    assert [t.get_text() for t in right.get_xticklabels()] == ["nothing removed", "- H3K27ac", "- DNase"]
    assert [p.get_height() for p in left.patches] == pytest.approx([0.20, 0.30, 0.18, 0.25])
    assert [p.get_height() for p in right.patches] == pytest.approx([0.18, 0.26, 0.40])
    sd = np.std([-0.02, 0.02], ddof=1)
    bars = [c for c in right.containers if isinstance(c, matplotlib.container.BarContainer)]
    assert len(bars) == 1 and len(bars[0]) == 3
    seg = bars[0].errorbar.lines[2][0].get_segments()[2]  # error bar of "- DNase"
    assert seg[1][1] - seg[0][1] == pytest.approx(2 * sd)
    assert matplotlib.colors.to_hex(left.patches[0].get_facecolor()) == matplotlib.colors.to_hex("C3")  # foreground
    assert right.get_title() == "removed at test (mean)" and left.get_ylabel() == "MSE (test)"


def attr_adata(n_genes=10, width=32):
    a = pt.datasets.toy(n_genes=n_genes, width=width)
    rng = np.random.default_rng(1)
    a.obsm["attr_sequence"] = rng.normal(0, 1, (n_genes, width)).astype(np.float32)
    a.obsm["attr_tracks"] = rng.normal(0, 1, (n_genes, 3, width)).astype(np.float32)
    a.obsm["attr_sequence"][0] = np.nan  # a gene that was not attributed
    a.obsm["attr_tracks"][0] = np.nan
    a.uns["attr"] = {"params": {"method": "integrated_gradients", "width": width, "bin_size": 1,
                                "tracks": ["H3K27ac", "DNase", "track2"],
                                "roles": ["foreground", "background", "background"]}}
    return a


def test_attribution_profile():
    a = attr_adata()
    axes = pt.pl.attribution_profile(a, show=False)
    assert len(axes) == 4
    assert [ax.get_ylabel() for ax in axes] == ["sequence", "H3K27ac", "DNase", "track2"]
    x, y = axes[1].lines[0].get_xdata(), axes[1].lines[0].get_ydata()
    np.testing.assert_allclose(x, np.arange(32) - 16)
    np.testing.assert_allclose(y, np.abs(a.obsm["attr_tracks"][1:, 0]).mean(axis=0), rtol=1e-6)  # NaN gene left out
    assert axes[-1].get_xlabel() == "bp from TSS" and "integrated_gradients" in axes[0].get_title()
    signed = pt.pl.attribution_profile(a, inputs=["sequence"], absolute=False, split="train", show=False)
    rows = (a.obs["split"] == "train").to_numpy()
    rows[0] = False
    assert len(signed) == 1
    np.testing.assert_allclose(signed[0].lines[0].get_ydata(), a.obsm["attr_sequence"][rows].mean(axis=0), rtol=1e-5)
    with pytest.raises(KeyError, match="available"):
        pt.pl.attribution_profile(a, inputs=["CTCF"], show=False)


def test_tracks_locus_view(tmp_path):
    a = attr_adata(width=32)
    gene = a.obs_names[3]
    axes = pt.pl.tracks(a, gene, show=False, save=tmp_path / "locus")
    assert (tmp_path / "locus.png").is_file()
    assert len(axes) == 4  # sequence strip + 3 tracks (window <= 1 kb)
    strip = axes[0].get_images()[0].get_array()
    np.testing.assert_array_equal(strip[0], a.obsm["sequence"][3])
    for j, ax in enumerate(axes[1:]):
        data_line = ax.lines[0]
        np.testing.assert_allclose(data_line.get_xdata(), np.arange(32) - 16)
        np.testing.assert_allclose(data_line.get_ydata(), a.obsm["tracks"][3, j], rtol=1e-6)
        assert len(ax.collections) == 1  # the filled area
        assert any(np.allclose(ln.get_xdata(), 0) for ln in ax.lines[1:])  # TSS marked
    assert [ax.get_ylabel() for ax in axes[1:]] == ["H3K27ac", "DNase", "track2"]
    assert a.obs["gene_name"].iloc[3] in axes[0].get_title()
    # by gene symbol, a subset of tracks, no strip, with the attribution panel
    axes = pt.pl.tracks(a, a.obs["gene_name"].iloc[3], tracks=["DNase"], attribution_key="attr", show_sequence=False,
                        show=False)
    assert len(axes) == 2 and axes[1].get_ylabel() == "attribution"
    labels = [ln.get_label() for ln in axes[1].lines if not ln.get_label().startswith("_")]
    assert labels == ["sequence", "DNase"]
    np.testing.assert_allclose(axes[1].lines[1].get_ydata(), a.obsm["attr_tracks"][3, 1], rtol=1e-6)
    with pytest.raises(KeyError, match="neither"):
        pt.pl.tracks(a, "nope", show=False)
