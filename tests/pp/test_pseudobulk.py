"""Pseudobulk input: cells x genes AnnData -> biosamples x genes (scanpy's aggregate) -> expression columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from anndata import AnnData

import prismtools as pt


@pytest.fixture
def cells():
    rng = np.random.default_rng(0)
    n_cells, genes = 60, ["A", "B", "C", "D", "E"]
    counts = rng.poisson(3.0, (n_cells, len(genes))).astype(np.float32)
    obs = pd.DataFrame({"cell_type": pd.Categorical(np.repeat(["T", "B", "NK"], 20)),
                        "batch": np.tile(["x", "y"], 30)}, index=[f"c{i}" for i in range(n_cells)])
    var = pd.DataFrame({"ensembl": [f"ENSG0000{i}" for i in range(5)]}, index=genes)
    return AnnData(X=sp.csr_matrix(counts), obs=obs, var=var, layers={"counts": counts.copy()})


@pytest.fixture
def genes():
    df = pd.DataFrame({"chrom": "chr1", "start": np.arange(6) * 1000 + 100, "end": np.arange(6) * 1000 + 600,
                       "strand": "+", "gene_id": [f"ENSG0000{i}" for i in range(6)],
                       "gene_name": ["A", "B", "C", "D", "E", "F"]})
    return pt.pp.read_genes(df)


def test_pseudobulk_sums_cells(cells):
    pb = pt.pp.pseudobulk(cells, groupby="cell_type")
    assert pb.shape == (3, 5) and list(pb.var_names) == list(cells.var_names)
    dense = cells.X.toarray()
    t = cells.obs["cell_type"].to_numpy() == "T"
    np.testing.assert_allclose(np.asarray(pb["T"].X).ravel(), dense[t].sum(0))
    assert pb.obs.loc["T", "n_cells"] == 20
    assert "ensembl" in pb.var  # gene annotation kept for matching
    mean = pt.pp.pseudobulk(cells, groupby="cell_type", layer="counts", func="mean")
    np.testing.assert_allclose(np.asarray(mean["T"].X).ravel(), dense[t].mean(0), rtol=1e-6)
    with pytest.raises(KeyError, match="nope"):
        pt.pp.pseudobulk(cells, groupby="nope")


def test_add_expression_from_pseudobulk(genes, cells, caplog):
    pb = pt.pp.pseudobulk(cells, groupby="cell_type")
    with caplog.at_level("INFO", logger="prismtools"):
        pt.pp.add_expression(genes, pb, transform="log10p1")  # var_names are symbols: matched via gene_name
    assert list(genes.var_names) == ["B", "NK", "T"]
    raw = np.asarray(pb.X)
    cpm = raw / raw.sum(1, keepdims=True) * 1e6
    g = genes.obs_names.get_loc("ENSG00001")
    t = list(pb.obs_names).index("T")
    assert genes.X[g, genes.var_names.get_loc("T")] == pytest.approx(np.log10(cpm[t, 1] + 1), rel=1e-5)
    assert genes.layers["raw"][g, genes.var_names.get_loc("T")] == pytest.approx(cpm[t, 1], rel=1e-5)
    assert np.isnan(genes.X[genes.obs_names.get_loc("ENSG00005")]).all()  # F: no cells measured it
    assert genes.var.loc["T", "transform"] == "cpm,log10p1"
    assert "matched 5 of 6 genes" in caplog.text


def test_add_expression_from_cells_with_groupby_and_gene_key(genes, cells, caplog):
    cells.var_names = [f"sym{i}" for i in range(5)]  # ids only in a var column
    with caplog.at_level("WARNING", logger="prismtools"):
        pt.pp.add_expression(genes, cells, groupby="cell_type", gene_key="ensembl", normalize=None, transform=None)
    assert list(genes.var_names) == ["B", "NK", "T"]
    t = cells.obs["cell_type"].to_numpy() == "NK"
    got = genes.X[genes.obs_names.get_indexer([f"ENSG0000{i}" for i in range(5)]), genes.var_names.get_loc("NK")]
    np.testing.assert_allclose(got, cells.X.toarray()[t].sum(0))
    assert "raw" not in genes.layers


def test_add_expression_anndata_unmatched_warns(genes, cells, caplog):
    pb = pt.pp.pseudobulk(cells, groupby="cell_type")
    pb.var_names = ["A", "B", "X1", "X2", "X3"]
    with caplog.at_level("WARNING", logger="prismtools"):
        pt.pp.add_expression(genes, pb)
    assert "3 of 5 genes of the AnnData did not match" in caplog.text
    with pytest.raises(ValueError, match="groupby"):
        pt.pp.add_expression(genes, cells, groupby=None, sample="x")


def test_add_expression_anndata_keeps_existing_samples(genes, cells):
    pt.pp.add_expression(genes, pd.DataFrame({"v": [1.0, 2.0]}, index=["A", "B"]), sample="bulk")
    genes.obsm["extra"] = np.ones((genes.n_obs, 2))
    pt.pp.add_expression(genes, pt.pp.pseudobulk(cells, groupby="cell_type"))
    assert list(genes.var_names) == ["bulk", "B", "NK", "T"]
    assert genes.obsm["extra"].shape == (6, 2)
    assert genes.X[genes.obs_names.get_loc("ENSG00000"), 0] == 1.0


def test_default_for_cells_is_log10_cpm(genes, cells):
    pt.pp.add_expression(genes, cells, groupby="cell_type")
    assert (genes.var["transform"] == "cpm,log10p1").all()
    raw = cells.X.toarray()[cells.obs["cell_type"].to_numpy() == "B"].sum(0)
    want = np.log10(raw / raw.sum() * 1e6 + 1)
    got = genes.X[genes.obs_names.get_indexer([f"ENSG0000{i}" for i in range(5)]), genes.var_names.get_loc("B")]
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_pbmc68k_reduced_offline(genes):
    import scanpy as sc

    try:
        pbmc = sc.datasets.pbmc68k_reduced()
    except Exception as err:  # noqa: BLE001
        pytest.skip(f"pbmc68k_reduced not loadable offline: {err}")
    pb = pt.pp.pseudobulk(pbmc, groupby="bulk_labels")
    assert pb.n_obs == pbmc.obs["bulk_labels"].nunique() and pb.n_vars == pbmc.n_vars
    df = pd.DataFrame({"chrom": "chr1", "start": np.arange(20) * 1000 + 100, "end": np.arange(20) * 1000 + 600,
                       "strand": "+", "gene_id": list(pbmc.var_names[:20])})
    g = pt.pp.read_genes(df)
    pt.pp.add_expression(g, pbmc, groupby="bulk_labels", normalize=None, transform=None)
    assert g.n_vars == pb.n_obs and np.isfinite(g.X).all()
