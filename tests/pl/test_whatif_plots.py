import matplotlib

matplotlib.use("agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import prismtools as pt  # noqa: E402


def _variants():
    return pd.DataFrame({"variant_id": ["a", "b", "c"], "gene": ["g1", "g1", "g2"], "distance_to_tss": [-10, 5, 300],
                         "effect": [0.1, -0.2, 0.0]})


def test_variant_effects_plot():
    ax = pt.pl.variant_effects(_variants(), show=False)
    assert ax.get_xlabel().startswith("distance to TSS")
    assert len(ax.collections[0].get_offsets()) == 3
    truth = pd.DataFrame({"variant_id": ["a"], "gene_id": ["g1"], "true_effect": [0.15]})
    ax = pt.pl.variant_effects(_variants(), color="truth", truth=truth, show=False)
    assert np.allclose(ax.collections[0].get_array(), [0.15, 0.0, 0.0])
    with pytest.raises(KeyError, match="truth"):
        pt.pl.variant_effects(_variants(), color="truth", show=False)


def test_perturbation_plot():
    df = pd.DataFrame({"region": ["r1", "r2", "r3"], "gene": ["g1", "g2", "g3"], "effect": [-1.0, 0.1, -0.3]})
    truth = pd.DataFrame({"region": ["r1"], "gene_id": ["g1"], "true_effect": [-1.2]})
    ax = pt.pl.perturbation(df, truth=truth, n_top=2, show=False)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["r3 -> g3", "r1 -> g1"]  # the two largest, largest at the top
    assert np.allclose(ax.collections[0].get_offsets()[:, 0], [0.0, -1.2])
