import pytest

from prismtools.demo import run_demo


@pytest.mark.slow
def test_demo_quick_end_to_end(tmp_path):
    table = run_demo(tmp_path, quick=True)
    assert list(table.index) == ["Prism", "Concatenation (alpha=0)", "Ridge (TSS signals)"]
    assert (table["n"] == table["n"].iloc[0]).all() and table["n"].iloc[0] > 200
    assert table["Pearson"].notna().all()
    # ridge on real TSS H3K27ac/DNase is a strong baseline on this data (data README: OLS r ~ 0.72-0.74)
    assert table.loc["Ridge (TSS signals)", "Pearson"] > 0.6
    for f in ("results.md", "results.csv", "stratum_effects.png", "predicted_vs_observed.png"):
        assert (tmp_path / f).stat().st_size > 0
    assert "| Prism" in (tmp_path / "results.md").read_text()
