"""Integration tests on the real public files in ../shared/data (skipped where absent)."""

import numpy as np
import pandas as pd
import pyBigWig
import pytest
from scipy import stats

import prismtools as pt

pytestmark = pytest.mark.realdata


def test_chr9_bigwigs_match_pybigwig_and_biology(shared, caplog):
    d = shared / "tracks_hg19_chr9_K562"
    a = pt.pp.read_genes(d / "GRCh37.75_chr9_4-6Mb.gtf")
    pt.pp.set_window(a, 2000, assembly="hg19")
    with caplog.at_level("WARNING", logger="prismtools"):
        for mark in ("H3K27ac", "H3K4me3"):
            pt.pp.add_track(a, d / f"K562_{mark}_chr9_4-6Mb.bigwig", name=mark, sample="K562", role="foreground")
    # the H3K4me3 cut has an hg38 header (data README: "the build is mixed"), noticed for the hg19 window
    assert "K562_H3K4me3_chr9_4-6Mb.bigwig' has the chromosome sizes of hg38" in caplog.text
    assert "K562_H3K27ac" not in caplog.text
    # independent oracle: pyBigWig directly, gene by gene
    bw = pyBigWig.open(str(d / "K562_H3K27ac_chr9_4-6Mb.bigwig"))
    for i in range(0, a.n_obs, 7):
        tss = int(a.obs["tss"].iloc[i])
        want = np.nan_to_num(np.asarray(bw.values("chr9", tss - 1000, tss + 1000), dtype=np.float32))
        assert np.array_equal(a.obsm["tracks"][i, 0], want)
    # active promoters carry both marks: their TSS signals correlate across the 55 genes
    tss_sig = np.log1p(a.obsm["tracks"][:, :, 500:1500].mean(axis=2))
    r = stats.pearsonr(tss_sig[:, 0], tss_sig[:, 1]).statistic
    assert r > 0.5, r


def test_real_sequence_cpg_islands_at_tss(shared, tmp_path):
    """At real hg19 TSSs the extracted +/-500 bp shows the CpG enrichment of promoters (data README: o/e ~0.75)."""
    d = shared / "k562_hg19_chr22"
    offset = 20_000_000
    fa = tmp_path / "chr22_excerpt.fa"
    lines = (d / "GRCh37_chr22_20000001-21000000.fa").read_text().splitlines()
    fa.write_text(">chr22\n" + "\n".join(lines[1:]) + "\n")
    genes = pd.read_csv(d / "k562_hg19_chr22_genes.tsv", sep="\t")
    genes = genes[(genes["tss"] > offset + 1000) & (genes["tss"] < offset + 999_000)].copy()
    assert len(genes) == 21
    for c in ("gene_start", "gene_end", "tss"):
        genes[c] = (genes[c] - offset).clip(lower=0)  # one gene body starts before the excerpt
    genes = genes.rename(columns={"gene_start": "start", "gene_end": "end", "symbol": "gene_id"})
    a = pt.pp.read_genes(genes[["chrom", "start", "end", "strand", "tss", "gene_id"]])
    pt.pp.set_window(a, 1000)
    pt.pp.add_sequence(a, fa)
    seq = a.obsm["sequence"]

    def cpg_oe(rows):
        pairs = (rows[:, :-1] == 1) & (rows[:, 1:] == 2)
        c, g = (rows == 1).sum(axis=1), (rows == 2).sum(axis=1)
        return pairs.sum(axis=1) * rows.shape[1] / np.maximum(c * g, 1)

    oe_tss = np.median(cpg_oe(seq))
    shifted = a.copy()
    shifted.obs["tss"] = shifted.obs["tss"] + 12_500
    shifted.uns["prism"].pop("sequence_source", None)
    del shifted.obsm["sequence"]
    pt.pp.add_sequence(shifted, fa)
    oe_off = np.median(cpg_oe(shifted.obsm["sequence"]))
    assert oe_tss > 0.6 and oe_off < 0.4, (oe_tss, oe_off)


def test_real_hic_virtual_4c_peaks_at_tss(shared):
    d = shared / "k562_hg38"
    genes = pd.read_csv(d / "k562_hg38_chr22_chr16_genes.tsv", sep="\t")
    genes = genes[genes["chrom"] == "chr22"].rename(columns={"gene_start": "start", "gene_end": "end", "symbol": "gene_id"})
    a = pt.pp.read_genes(genes[["chrom", "start", "end", "strand", "tss", "gene_id"]])
    pt.pp.set_window(a, 200_000, bin_size=5000)
    pt.pp.add_hic(a, d / "K562_hg38_chr22_5kb.cool", sample="K562")
    prof = a.obsm["tracks"][:, 0, :]
    assert prof.shape == (a.n_obs, 40)
    centre, edge = prof[:, 19:21].mean(), prof[:, [0, 1, 38, 39]].mean()
    assert centre > 2 * edge  # contacts decay with distance from the TSS bin
    # agrees with cooler directly for one gene
    import cooler

    clr = cooler.Cooler(str(d / "K562_hg38_chr22_5kb.cool"))
    inside = (a.obs["tss"] > 20_000_000) & (a.obs["tss"] < 45_000_000)
    i = int(np.argmax(np.where(inside, prof.sum(axis=1), -1)))
    tss = int(a.obs["tss"].iloc[i])
    row = np.nan_to_num(clr.matrix(balance=True)[tss // 5000, :][0])
    per_base = np.log10(row[np.arange(tss - 100_000, tss + 100_000) // 5000] + 1)  # a bin averages 5,000 bases
    assert np.allclose(prof[i], per_base.reshape(40, 5000).mean(axis=1), rtol=1e-5, atol=1e-6)


def test_real_genomewide_cool_2mb(shared):
    a = pt.pp.read_genes(shared / "tracks_hg19_chr9_K562" / "GRCh37.75_chr9_4-6Mb.gtf")
    pt.pp.set_window(a, 8_000_000, bin_size=2_000_000)
    pt.pp.add_hic(a, shared / "hic_examples" / "hg19.GM12878-MboI.matrix.2000kb.cool", sample="GM12878", balance=False)
    assert a.obsm["tracks"].shape == (55, 1, 4)
    assert (a.obsm["tracks"][:, 0, 2] > 0).all()  # the TSS's own bin always has contacts


def test_k562_dataset_reproduces_sanity_numbers():
    a = pt.datasets.k562()
    assert a.shape == (1516, 1) and a.var.loc["K562", "n_measured"] == 1299
    assert list(a.uns["prism"]["tracks"]["name"]) == ["H3K27ac", "DNase", "HiC"]
    assert list(a.uns["prism"]["tracks"]["role"]) == ["foreground", "background", "background"]
    y = a.X[:, 0]
    m = np.isfinite(y)
    tss_mean = a.obsm["tracks"][:, :, 1000]
    # data README: r(log1p TPM, log1p H3K27ac RPM) = 0.725, DHS 0.637 (log10(x+1) is a rescaled log1p)
    assert stats.pearsonr(y[m], np.log1p(tss_mean[m, 0])).statistic == pytest.approx(0.725, abs=0.002)
    assert stats.pearsonr(y[m], np.log1p(tss_mean[m, 1])).statistic == pytest.approx(0.637, abs=0.002)
    hic = a.obsm["tracks"][:, 2]
    assert (hic[(a.obs["chrom"] == "chr16").to_numpy()] == 0).all() and hic[(a.obs["chrom"] == "chr22").to_numpy()].max() > 0
    assert set(a.obs["split"]) == {"train", "valid", "test"}
    assert a.obsm["covariates"].shape == (1516, 2)
