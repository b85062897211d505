import numpy as np
import pandas as pd
import pytest
import scanpy as sc

import prismtools as pt


def test_read_genes_bed(genome):
    a = pt.pp.read_genes(genome["bed"])
    assert a.n_obs == 6 and a.n_vars == 0
    assert list(a.obs.columns[:6]) == ["chrom", "start", "end", "strand", "tss", "gene_name"]
    g2 = a.obs.loc["G2"]
    assert g2.strand == "-" and g2.tss == 25_000 - 1  # 0-based first transcribed base on the minus strand
    assert a.obs.loc["G1", "tss"] == 1_000


def test_read_genes_gtf_filters(genome):
    a = pt.pp.read_genes(genome["gtf"])
    assert a.n_obs == 6  # exons are not genes
    assert a.obs.loc["ENSG00000.3", "start"] == 1_000  # GTF 1-based -> 0-based
    b = pt.pp.read_genes(genome["gtf"], gene_types=["protein_coding"], chromosomes=["chr1"])
    assert set(b.obs["chrom"]) == {"chr1"} and (b.obs["gene_type"] == "protein_coding").all()


def test_read_genes_dataframe_keeps_given_tss():
    df = pd.DataFrame({"chrom": ["chr1", "chr1"], "start": [10, 100], "end": [50, 200], "strand": ["+", "-"],
                       "gene_id": ["a", "b"], "tss": [12, 200]})
    a = pt.pp.read_genes(df)
    assert a.obs["tss"].tolist() == [12, 200]


def test_read_genes_bad_inputs(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.gtf"):
        pt.pp.read_genes(tmp_path / "nope.gtf")
    (tmp_path / "x.vcf").write_text("##fileformat=VCF\n")
    with pytest.raises(ValueError, match="unknown annotation format"):
        pt.pp.read_genes(tmp_path / "x.vcf")
    df = pd.DataFrame({"chrom": ["chr1"], "start": [10], "end": [5], "strand": ["+"], "gene_id": ["a"]})
    with pytest.raises(ValueError, match="end <= start"):
        pt.pp.read_genes(df)


def test_read_genes_duplicates_logged(caplog):
    df = pd.DataFrame({"chrom": ["chr1"] * 3, "start": [10, 20, 30], "end": [50] * 3, "strand": ["+", "+", "."],
                       "gene_id": ["a", "a", "b"]})
    with caplog.at_level("WARNING"):
        a = pt.pp.read_genes(df)
    assert a.n_obs == 1
    assert "1 duplicated gene ids" in caplog.text and "dropping 1 genes without a +/- strand" in caplog.text


def test_add_expression_by_symbol_and_transform(genome, caplog):
    a = pt.pp.read_genes(genome["gtf"])
    tab = pd.DataFrame({"TPM": [9.0, 99.0, 0.0, 5.0]}, index=["G1", "G2", "G3", "UNKNOWN"])
    with caplog.at_level("INFO", logger="prismtools"):
        pt.pp.add_expression(a, tab, sample="K562", transform="log10p1")
    assert "matched 3 of 6 genes by gene_name" in caplog.text
    x = pd.Series(a[:, "K562"].X[:, 0], index=a.obs["gene_name"])
    assert x["G1"] == pytest.approx(1.0) and x["G2"] == pytest.approx(2.0)
    assert np.isnan(x["G4"])
    assert a.layers["raw"][a.obs["gene_name"].to_numpy() == "G2", 0][0] == pytest.approx(99.0)
    assert a.X.dtype == np.float32
    # second sample, keyed by versioned Ensembl id
    tab2 = pd.DataFrame({"gid": ["ENSG00001.3", "ENSG00000"], "v": [1.0, 2.0]})
    pt.pp.add_expression(a, tab2, sample="GM12878", gene_key="gid", value="v")
    assert list(a.var_names) == ["K562", "GM12878"]
    assert a.var.loc["GM12878", "n_measured"] == 2


def test_add_expression_headerless_file(genes, tmp_path):
    p = tmp_path / "tpm.txt"
    p.write_text("G1\t3.0\nG2\t0.5\nG9\t1\n")
    pt.pp.add_expression(genes, p, sample="K562")
    assert genes.X[genes.obs_names.get_loc("G1"), 0] == pytest.approx(3.0)
    with pytest.raises(ValueError, match="transform"):
        pt.pp.add_expression(genes, p, sample="K562", transform="sqrt")


def test_add_expression_from_unnamed_series_and_int_column(genes):
    """A Series without a name (column 0 once framed) or a table with integer column names is a valid source."""
    ids = genes.obs_names[:2]
    pt.pp.add_expression(genes, pd.Series([9.0, 99.0], index=ids), sample="a", transform="log10p1")
    np.testing.assert_allclose(genes[ids].X[:, 0], [1.0, 2.0], rtol=1e-6)
    pt.pp.add_expression(genes, pd.DataFrame({0: [3.0, 4.0]}, index=ids), sample="b", transform=None)
    np.testing.assert_allclose(genes[ids].X[:, 1], [3.0, 4.0])


def test_table_track_and_covariates_with_int_column_names(genes):
    """The same class of input for the other per-gene table readers: integer column names are valid."""
    ids = genes.obs_names[:2]
    pt.pp.set_window(genes, 200, bin_size=10)
    pt.pp.add_table_track(genes, pd.DataFrame({0: [3.0, 4.0]}, index=ids), column=0, name="t", sample="s",
                          role="foreground")
    assert genes[ids].obsm["tracks"][:, 0].max(axis=1).tolist() == [3.0, 4.0]
    pt.pp.add_covariates(genes, pd.DataFrame({0: [1.0, 2.0], 1: [5.0, 6.0]}, index=ids), keys=[0, 1])
    np.testing.assert_array_equal(genes[ids].obsm["covariates"], [[1.0, 5.0], [2.0, 6.0]])


def test_add_expression_no_match(genes):
    with pytest.raises(ValueError, match="none of its"):
        pt.pp.add_expression(genes, pd.DataFrame({"v": [1.0]}, index=["ZZZ"]), sample="s")


def test_scanpy_interop(genes):
    pt.pp.add_expression(genes, pd.DataFrame({"v": np.arange(6.0)}, index=[f"G{i}" for i in range(1, 7)]), sample="A")
    pt.pp.add_expression(genes, pd.DataFrame({"v": np.arange(6.0) * 2}, index=[f"G{i}" for i in range(1, 7)]), sample="B")
    sc.pp.log1p(genes)
    order = [f"G{i}" for i in range(1, 7)]
    assert np.allclose(genes[order, "A"].X[:, 0], np.log1p(np.arange(6.0)))
    ax = sc.pl.scatter(genes, x="A", y="B", show=False)
    assert ax is not None
    sub = genes[genes.obs["chrom"] == "chr1"].copy()
    assert sub.n_obs == 4


def test_covariates(genes):
    tab = pd.DataFrame({"gc": [0.1, 0.2, 0.3], "len": [1.0, 2.0, 3.0]}, index=["G1", "G2", "G5"])
    pt.pp.add_covariates(genes, tab, keys=["gc"])
    pt.pp.add_covariates(genes, tab, keys=["len", "gc"])
    assert genes.uns["prism"]["covariates"] == ["gc", "len"]
    assert genes.obsm["covariates"].shape == (6, 2)
    assert np.isnan(genes.obsm["covariates"][genes.obs_names.get_loc("G3"), 0])
    with pytest.raises(KeyError, match="nope"):
        pt.pp.add_covariates(genes, tab, keys=["nope"])


def test_split_chromosomes_and_folds(genes, tmp_path):
    pt.pp.split_chromosomes(genes, test="chr2", valid=[])
    assert (genes.obs.loc[genes.obs.chrom == "chr2", "split"] == "test").all()
    assert list(genes.obs["split"].cat.categories) == ["train", "valid", "test"]
    with pytest.raises(ValueError, match="chr9"):
        pt.pp.split_chromosomes(genes, test="chr9")
    folds = pd.DataFrame({"ENSID": ["G1", "G2", "G3", "G4", "G5"], "chrom": "x",
                          "fold_11": ["train", "valid", "test", "train", "Train"]})
    folds.to_csv(tmp_path / "folds.csv", index=False)
    pt.pp.split_folds(genes, tmp_path / "folds.csv", fold=11)
    assert genes.obs.loc["G2", "split"] == "valid" and genes.obs.loc["G5", "split"] == "train"
    assert pd.isna(genes.obs.loc["G6", "split"])
    with pytest.raises(KeyError, match="fold_3"):
        pt.pp.split_folds(genes, folds, fold=3)
    folds.loc[0, "fold_11"] = "holdout"
    with pytest.raises(ValueError, match="holdout"):
        pt.pp.split_folds(genes, folds, fold=11)


def test_split_blocks(genes):
    pt.pp.split_blocks(genes, n_blocks=2, test=(1,), valid=())
    # chr1 has 4 genes (2 blocks of 2); the later-TSS block is test
    chr1 = genes.obs[genes.obs.chrom == "chr1"].sort_values("tss")
    assert chr1["split"].tolist() == ["train", "train", "test", "test"]


@pytest.mark.realdata
def test_real_expression_tpm_table(shared):
    d = shared / "k562_hg38"
    a = pt.pp.read_genes(d / "CollapsedGeneBounds.hg38.bed", chromosomes=["chr22"])
    pt.pp.add_expression(a, d / "K562.ENCFF934YBO.TPM.txt", sample="K562", transform="log1p")
    assert a.var.loc["K562", "n_measured"] > 400
    assert np.nanmax(a.X) > 5


def test_read_genes_genomic_order():
    df = pd.DataFrame({"chrom": ["chrX", "chr10", "chr2", "chr2", "chr1"], "start": [5, 5, 50, 10, 7],
                       "end": [60, 60, 90, 90, 70], "strand": ["+", "+", "-", "+", "+"], "gene_id": list("abcde")})
    a = pt.pp.read_genes(df)
    assert list(a.obs_names) == ["e", "d", "c", "b", "a"]  # chr1, chr2 (by TSS), chr10, chrX
