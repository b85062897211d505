"""``pt.datasets.k562()`` reports the bundled data's known gaps at INFO, while the same gaps in a user's build warn."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

import prismtools as pt


@pytest.fixture
def verbosity():
    old = pt.settings.verbosity
    yield
    pt.settings.verbosity = old


def _prismtools_records(caplog, level):
    return [r for r in caplog.records if r.name.startswith("prismtools") and r.levelno == level]


def test_k562_is_quiet_at_warning_level_and_reports_known_gaps_at_info(caplog, verbosity):
    pt.settings.verbosity = "warning"
    with caplog.at_level(logging.DEBUG):  # the prismtools logger's own level decides, as for a user
        adata = pt.datasets.k562(width=2000, bin_size=100, hic=True)
    assert _prismtools_records(caplog, logging.WARNING) == []
    assert _prismtools_records(caplog, logging.INFO) == []
    # the gaps are still there, as documented
    assert int(np.isnan(adata.X[:, 0]).sum()) == 217
    caplog.clear()

    pt.settings.verbosity = "info"
    with caplog.at_level(logging.DEBUG):
        pt.datasets.k562(width=2000, bin_size=100, hic=True)
    info = [r.getMessage() for r in _prismtools_records(caplog, logging.INFO)]
    assert any("217 values marked missing" in m for m in info), info
    assert any("999 of 1516 genes are on chromosomes absent" in m for m in info), info
    assert _prismtools_records(caplog, logging.WARNING) == []


def test_the_same_gaps_in_a_users_own_build_still_warn(caplog, verbosity):
    pt.settings.verbosity = "warning"
    df = pd.read_csv(pt.datasets.data_path("k562_hg38_chr22_chr16_genes.tsv.gz"), sep="\t")
    genes = df.rename(columns={"gene_start": "start", "gene_end": "end", "symbol": "gene_id"})
    adata = pt.pp.read_genes(genes[["chrom", "start", "end", "strand", "tss", "gene_id"]])
    pt.pp.set_window(adata, 2000, bin_size=100, assembly="hg38")
    with caplog.at_level(logging.DEBUG):
        pt.pp.add_expression(adata, df.set_index("symbol"), sample="K562", value="TPM_ENCFF934YBO")
        pt.pp.add_hic(adata, pt.datasets.data_path("K562_hg38_chr22_5kb.cool"), sample="K562")
    warned = [r.getMessage() for r in _prismtools_records(caplog, logging.WARNING)]
    assert any("217 values marked missing" in m for m in warned), warned
    assert any("999 of 1516 genes are on chromosomes absent" in m for m in warned), warned
    # and the loader's filters are gone once it returns
    assert all(not f.__class__.__name__ == "_KnownGap"
               for name in ("prismtools.pp._tables", "prismtools.pp._chroms")
               for f in logging.getLogger(name).filters)
