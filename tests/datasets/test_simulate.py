import numpy as np
import pandas as pd
import pyBigWig
import pytest
from scipy import stats

import prismtools as pt
from prismtools.datasets._simulate import MOTIFS
from prismtools.pp._sequence import decode


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    root = tmp_path_factory.mktemp("sim")
    return pt.datasets.simulate(root / "g", n_genes=300, chromosomes=3, chrom_size=2_000_000, seed=3,
                                confounding=1.0, confounding_test=-1.0, samples=["A", "B"])


def test_files_and_reproducibility(sim, tmp_path):
    for p in [sim.fasta, sim.gtf, sim.expression, sim.truth_path, *sim.bigwigs["A"].values(), sim.mcool["B"]]:
        assert p.exists(), p
    again = pt.datasets.simulate(tmp_path / "g2", n_genes=300, chromosomes=3, chrom_size=2_000_000, seed=3,
                                 confounding=1.0, confounding_test=-1.0, samples=["A", "B"])
    pd.testing.assert_frame_equal(sim.truth, again.truth)
    assert sim.fasta.read_bytes() == again.fasta.read_bytes()
    a, b = pyBigWig.open(str(sim.bigwigs["A"]["H3K27ac"])), pyBigWig.open(str(again.bigwigs["A"]["H3K27ac"]))
    assert np.array_equal(a.values("chr2", 0, 100_000, numpy=True), b.values("chr2", 0, 100_000, numpy=True))
    other = pt.datasets.simulate(tmp_path / "g3", n_genes=300, chromosomes=3, chrom_size=2_000_000, seed=4)
    assert not np.allclose(other.truth["y"].to_numpy()[:50], sim.truth.query("sample == 'A'")["y"].to_numpy()[:50])
    with pytest.raises(FileExistsError):
        pt.datasets.simulate(tmp_path / "g2", n_genes=10, chromosomes=1)


def test_ground_truth_is_consistent(sim):
    t = sim.truth.query("sample == 'A'")
    parts = 1.0 + t["seq_effect"] + t["fg_effect"] + t["distal_effect"] + t["confounder_effect"]
    assert np.allclose(parts, t["y_clean"], atol=1e-4)
    assert 0.1 < np.std(t["y"] - t["y_clean"]) < 0.3  # noise = 0.2
    # the confounding knob flips sign between training and test chromosomes
    tr, te = t[t.split_shift == "train"], t[t.split_shift == "test"]
    assert stats.pearsonr(tr["c_state"], tr["y"]).statistic > 0.3
    assert stats.pearsonr(te["c_state"], te["y"]).statistic < -0.3


def test_pipeline_on_simulated_files(sim):
    adata = pt.pp.read_genes(sim.gtf)
    pt.pp.add_expression(adata, sim.expression, sample="A", gene_key="gene_id", value="A")
    pt.pp.set_window(adata, 2000)
    pt.pp.add_sequence(adata, sim.fasta, reverse_complement_minus=True)
    pt.pp.add_track(adata, sim.bigwigs["A"]["H3K27ac"], name="H3K27ac", sample="A", role="foreground")
    pt.pp.add_track(adata, sim.bigwigs["A"]["DNase"], name="DNase", sample="A", role="background")
    pt.pp.add_hic(adata, sim.mcool["A"], sample="A", resolution=5000)
    truth = sim.truth.query("sample == 'A'").reindex(adata.obs_names)
    # strand-aware extraction finds the planted TATA box at -30 of the transcript exactly where the truth says
    mid = 1000
    tata = np.array([decode(row[mid - 30 : mid - 24]) == MOTIFS["TATA"] for row in adata.obsm["sequence"]])
    assert np.array_equal(tata, truth["tata"].to_numpy())
    act = np.array([decode(row).count(MOTIFS["activator"]) for row in adata.obsm["sequence"]])
    assert np.array_equal(act, truth["n_activator"].to_numpy())
    # the foreground track at the TSS tracks the planted promoter peak; DNase tracks the background state
    fg = adata.obsm["tracks"][:, 0, 900:1100].mean(axis=1)
    peak = 0.99 * 3.0 * truth["promoter_peak"].to_numpy()  # drawn 3 * h high (SD 300 bp), +/-100 bp average
    close = np.abs(fg - peak) < 0.1 + 0.03 * peak  # 0.1: the noise floor (mean 0.05) plus rounding
    assert close.mean() > 0.75, close.mean()  # the rest overlap a neighbouring gene's or an enhancer's peak
    dn = adata.obsm["tracks"][:, 1, :].mean(axis=1)
    assert stats.spearmanr(dn, truth["c_state"]).statistic > 0.6
    y = adata.X[:, 0]
    assert np.allclose(y, truth["y"], atol=1e-4)
    hic = adata.obsm["tracks"][:, 2, :]
    assert (hic.mean(axis=1) > 0).all()


def test_whatif_truth(sim):
    import pysam

    from prismtools.datasets._simulate import _promoter_counts

    recs = list(pysam.VariantFile(str(sim.variants)))
    assert {r.info["CLASS"] for r in recs} == {"motif", "promoter", "neutral"}
    vt = sim.variant_truth
    # motif variants change expression by the planted weights; neutral ones (far from every TSS) change nothing
    assert not vt["variant_id"].isin([r.id for r in recs if r.info["CLASS"] == "neutral"]).any()
    assert (vt.loc[vt["class"] == "motif", "true_effect"].abs() > 0).mean() > 0.5
    # recompute one motif variant by hand from the FASTA
    row = vt[(vt["class"] == "motif") & (vt.true_effect != 0)].iloc[0]
    from pyfaidx import Fasta

    with Fasta(str(sim.fasta), as_raw=True) as fa:
        s = np.frombuffer(fa[row.chrom][:].encode(), dtype=np.uint8).copy()
    g = sim.truth.query("sample == 'A'").loc[row.gene_id]
    assert chr(s[row.pos - 1]) == row.ref
    b = _promoter_counts(s, int(g.tss), g.strand)
    s[row.pos - 1] = ord(row.alt)
    a = _promoter_counts(s, int(g.tss), g.strand)
    assert row.true_effect == pytest.approx(0.5 * ((a[0] - b[0]) + 0.3 * (a[1] - b[1]) - 0.3 * (a[2] - b[2])), abs=1e-4)
    # silencing a promoter region removes exactly that gene's foreground effect
    pt_ = sim.perturbation_truth
    prom = pt_[(pt_["class"] == "promoter") & (pt_["sample"] == "A")]
    t = sim.truth.query("sample == 'A'")
    own = prom[prom.apply(lambda r: r.start <= t.loc[r.gene_id, "tss"] < r.end, axis=1)]
    first = own.drop_duplicates("gene_id").iloc[0]
    assert first.true_effect <= -t.loc[first.gene_id, "fg_effect"] + 1e-3
    bed = pd.read_csv(sim.perturbations, sep="\t", header=None)
    assert set(bed[6]) == {"promoter", "enhancer", "neutral"} and (bed[2] - bed[1] == 1000).mean() > 0.9
    assert not pt_["region"].isin(bed[3][bed[6] == "neutral"]).any()
