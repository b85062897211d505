"""Issue 9 (inputs): never a silent wrong answer. Each class of silent error or raw library traceback has a test
that failed on the code before the fix."""

from __future__ import annotations

import gzip
import os
import shutil

import numpy as np
import pandas as pd
import pytest

import prismtools as pt
from prismtools.pp._validate import InputFileError


# --------------------------------------------------------------------------------------------- genes (BED strand)
def test_bed_without_strand_is_not_put_on_plus(tmp_path, caplog):
    p = tmp_path / "nostrand.bed"
    p.write_text("chr1\t1000\t3000\tA\nchr1\t5000\t9000\tB\n")  # BED4: no strand column
    with pytest.raises(ValueError, match=r"nostrand\.bed.*strand"):
        pt.pp.read_genes(p)


def test_dataframe_without_strand_is_refused():
    df = pd.DataFrame({"chrom": ["chr1"], "start": [10], "end": [50], "gene_id": ["a"]})
    with pytest.raises(ValueError, match="strand"):
        pt.pp.read_genes(df)


def test_bed_with_dot_strand_drops_counted(tmp_path, caplog):
    p = tmp_path / "dots.bed"
    p.write_text("chr1\t1000\t3000\tA\t0\t+\nchr1\t5000\t9000\tB\t0\t.\nchr1\t6000\t9000\tC\t0\t-\n")
    with caplog.at_level("WARNING", logger="prismtools"):
        a = pt.pp.read_genes(p)
    assert list(a.obs_names) == ["A", "C"]
    assert "dropping 1 genes without a +/- strand" in caplog.text and "'B'" in caplog.text


# -------------------------------------------------------------------------------------- genes (raw library errors)
def test_empty_gtf_names_the_file(tmp_path):
    p = tmp_path / "empty.gtf"
    p.write_text("")
    with pytest.raises(InputFileError, match=r"empty\.gtf.*no records"):
        pt.pp.read_genes(p)


def test_gtf_with_too_few_columns_names_file_and_line(tmp_path):
    p = tmp_path / "short.gtf"
    p.write_text('chr1\ttest\tgene\t1\t100\t.\t+\t.\tgene_id "A";\nchr1\ttest\tgene\t200\t300\t.\t+\n')
    with pytest.raises(InputFileError, match=r"short\.gtf.*line 2.*7 columns.*9"):
        pt.pp.read_genes(p)


# ------------------------------------------------------------------------------------------- expression values
@pytest.fixture
def six(genome):
    return pt.pp.read_genes(genome["bed"])


def test_expression_non_numeric_is_refused_with_examples(six, tmp_path):
    p = tmp_path / "tpm.tsv"
    p.write_text("gene\tTPM\nG1\t1.5\nG2\tabc\nG3\t1,5\nG4\t2\n")
    with pytest.raises(InputFileError, match=r"tpm\.tsv.*2 values.*G2.*'abc'.*G3.*'1,5'"):
        pt.pp.add_expression(six, p, sample="K562")


def test_expression_missing_tokens_are_counted(six, tmp_path, caplog):
    p = tmp_path / "tpm.tsv"
    p.write_text("gene\tTPM\nG1\t1.5\nG2\tn/a\nG3\tNA\nG4\t2\n")
    with caplog.at_level("WARNING", logger="prismtools"):
        pt.pp.add_expression(six, p, sample="K562")
    x = pd.Series(six.X[:, 0], index=six.obs_names)
    assert np.isnan(x["G2"]) and np.isnan(x["G3"]) and x["G4"] == 2
    assert "2 values marked missing" in caplog.text and "G2" in caplog.text


def test_expression_inf_is_not_stored(six, caplog):
    tab = pd.DataFrame({"v": [1.0, np.inf, -np.inf, 3.0]}, index=["G1", "G2", "G3", "G4"])
    with caplog.at_level("WARNING", logger="prismtools"):
        pt.pp.add_expression(six, tab, sample="K562")
    assert not np.isinf(six.X).any()
    x = pd.Series(six.X[:, 0], index=six.obs_names)
    assert np.isnan(x["G2"]) and np.isnan(x["G3"])
    assert "2 infinite values" in caplog.text


# ---------------------------------------------------------------------------------------------- numeric inputs
@pytest.mark.parametrize("bad", [2000.7, "2kb", True, np.nan])
def test_set_window_rejects_non_integer_widths(six, bad):
    with pytest.raises((ValueError, TypeError), match="width"):
        pt.pp.set_window(six, bad)


def test_set_window_accepts_integral_values(six):
    pt.pp.set_window(six, np.int64(2000), bin_size=50.0)
    assert six.uns["prism"]["window"]["width"] == 2000 and isinstance(six.uns["prism"]["window"]["width"], int)


@pytest.mark.parametrize("kw", [{"bin_size": 12.5}, {"bin_size": "50"}])
def test_set_window_rejects_bad_bin_size(six, kw):
    with pytest.raises((ValueError, TypeError), match="bin_size"):
        pt.pp.set_window(six, 2000, **kw)


def test_other_numeric_inputs_are_validated(six, genome):
    pt.pp.set_window(six, 2000, bin_size=100)
    with pytest.raises((ValueError, TypeError), match="resolution"):
        pt.pp.add_hic(six, genome["mcool"], sample="s", resolution=1000.5)
    with pytest.raises((ValueError, TypeError), match="width"):
        pt.pp.crop_window(six, 1000.5)
    with pytest.raises((ValueError, TypeError), match="n_blocks"):
        pt.pp.split_blocks(six, n_blocks=2.5)


# ---------------------------------------------------------------------------------------------- inf in a track
def test_inf_in_bigwig_is_counted_not_zeroed(six, tmp_path, caplog):
    import pyBigWig

    p = tmp_path / "inf.bw"
    bw = pyBigWig.open(str(p), "w")
    bw.addHeader([("chr1", 50_000), ("chr2", 30_000)])
    vals = np.ones(50_000)
    vals[990:1000] = np.inf  # inside G1's window (tss 1000)
    bw.addEntries("chr1", 0, values=vals.tolist(), span=1, step=1)
    bw.addEntries("chr2", 0, values=[1.0] * 30_000, span=1, step=1)
    bw.close()
    pt.pp.set_window(six, 20)
    with caplog.at_level("WARNING", logger="prismtools"):
        pt.pp.add_track(six, p, name="x", sample="s", role="foreground", nan=None)
    row = six.obsm["tracks"][six.obs_names.get_loc("G1"), 0]
    assert np.isnan(row[:10]).all() and (row[10:] == 1).all()  # missing, not 0 and not 3.4e38
    assert "inf.bw" in caplog.text and "10 infinite values" in caplog.text


# ------------------------------------------------------------------------------------------ assembly mismatch
def test_genes_beyond_chromosome_end_name_the_file(six, tmp_path):
    import pyBigWig

    p = tmp_path / "short.bw"
    bw = pyBigWig.open(str(p), "w")
    bw.addHeader([("chr1", 10_000), ("chr2", 30_000)])  # chr1 "shorter": G2 (tss 24,999), G3 beyond its end
    bw.addEntries("chr1", 0, values=[1.0] * 10_000, span=1, step=1)
    bw.addEntries("chr2", 0, values=[1.0] * 30_000, span=1, step=1)
    bw.close()
    pt.pp.set_window(six, 20)
    with pytest.raises(InputFileError, match=r"short\.bw.*2 genes.*beyond.*assembl"):
        pt.pp.add_track(six, p, name="x", sample="s", role="foreground")


def test_mostly_missing_values_warn(six, tmp_path, caplog):
    import pyBigWig

    p = tmp_path / "sparse.bw"
    bw = pyBigWig.open(str(p), "w")
    bw.addHeader([("chr1", 50_000), ("chr2", 30_000)])
    bw.addEntries("chr2", 29_000, values=[1.0] * 10, span=1, step=1)  # data far from every gene
    bw.close()
    pt.pp.set_window(six, 20)
    with caplog.at_level("WARNING", logger="prismtools"):
        pt.pp.add_track(six, p, name="x", sample="s", role="foreground")
    assert "sparse.bw" in caplog.text and "no data" in caplog.text and "assembly" in caplog.text


@pytest.mark.realdata
def test_hg19_genes_on_hg38_cool_is_refused(shared, caplog):
    genes = pd.read_csv(shared / "k562_hg19_chr22" / "k562_hg19_chr22_genes.tsv", sep="\t")
    a = pt.pp.read_genes(genes.rename(columns={"symbol": "gene_id"}))
    pt.pp.set_window(a, 20_000, bin_size=5000, assembly="hg19")
    # 21 of the hg19 genes start beyond the end of hg38 chr22 (50,818,468 bp): refused, naming file and cause
    with caplog.at_level("WARNING", logger="prismtools"), pytest.raises(
            InputFileError, match=r"K562_hg38_chr22_5kb\.cool.*21 genes.*beyond the end.*assembl"):
        pt.pp.add_hic(a, shared / "k562_hg38" / "K562_hg38_chr22_5kb.cool", sample="K562", balance=False)
    assert "declares genome assembly 'hg38'" in caplog.text and "'hg19'" in caplog.text


@pytest.mark.realdata
def test_hg38_bigwig_header_against_hg19_window(shared, tmp_path, caplog):
    import pyBigWig

    sizes = pd.read_csv(shared / "k562_hg38" / "GRCh38_EBV.no_alt.chrom.sizes.tsv", sep="\t", header=None)
    p = tmp_path / "hg38.bw"
    bw = pyBigWig.open(str(p), "w")
    bw.addHeader([(str(c), int(n)) for c, n in zip(sizes[0], sizes[1]) if str(c) in ("chr1", "chr2")])
    bw.addEntries("chr1", 0, values=[1.0] * 100, span=1, step=1)
    bw.close()
    df = pd.DataFrame({"chrom": ["chr1"], "start": [10], "end": [50], "strand": ["+"], "gene_id": ["a"]})
    a = pt.pp.read_genes(df)
    pt.pp.set_window(a, 20, assembly="hg19")
    with caplog.at_level("WARNING", logger="prismtools"):
        pt.pp.add_track(a, p, name="x", sample="s", role="foreground")
    assert "hg38.bw' has the chromosome sizes of hg38 but the genes' window is labelled 'hg19'" in caplog.text


# ------------------------------------------------------------------------------------- corrupted data blocks
def _corrupt(src, dst, frac=0.5, n=2000):
    data = bytearray(open(src, "rb").read())
    off = int(len(data) * frac)
    data[off : off + n] = np.random.default_rng(0).integers(0, 256, n, dtype=np.uint8).tobytes()
    open(dst, "wb").write(bytes(data))


def test_corrupted_bigwig_names_the_file(six, tmp_path):
    import pyBigWig

    good = tmp_path / "good.bw"
    bw = pyBigWig.open(str(good), "w")
    bw.addHeader([("chr1", 50_000), ("chr2", 30_000)])
    bw.addEntries("chr1", 0, values=np.random.default_rng(1).random(50_000).tolist(), span=1, step=1)
    bw.addEntries("chr2", 0, values=np.random.default_rng(2).random(30_000).tolist(), span=1, step=1)
    bw.close()
    bad = tmp_path / "broken.bw"
    _corrupt(good, bad, 0.3, 20_000)
    pt.pp.set_window(six, 2000)
    with pytest.raises(InputFileError, match=r"broken\.bw.*corrupt"):
        pt.pp.add_track(six, bad, name="x", sample="s", role="foreground")


def test_corrupted_cool_names_the_file(six, genome, tmp_path):
    import h5py

    bad = tmp_path / "broken.cool"
    shutil.copy(genome["cool"], bad)
    with h5py.File(bad, "r") as f:
        info = f["pixels/count"].id.get_chunk_info(0)
    data = bytearray(open(bad, "rb").read())
    data[info.byte_offset + 10 : info.byte_offset + info.size] = b"\xff" * (info.size - 10)
    open(bad, "wb").write(bytes(data))
    pt.pp.set_window(six, 2000, bin_size=100)
    with pytest.raises(InputFileError, match=r"broken\.cool.*corrupt"):
        pt.pp.add_hic(six, bad, sample="s", balance=False)


# ------------------------------------------------------------------------------------------------------ FASTA
def test_gzip_fasta_says_bgzip(six, genome, tmp_path):
    p = tmp_path / "genome.fa.gz"
    with open(genome["fasta"], "rb") as src, gzip.open(p, "wb") as dst:
        dst.write(src.read())
    pt.pp.set_window(six, 20)
    with pytest.raises(InputFileError, match=r"genome\.fa\.gz.*gzip.*bgzip"):
        pt.pp.add_sequence(six, p)


def test_fasta_without_fai_in_read_only_folder(six, genome, tmp_path, monkeypatch):
    d = tmp_path / "ro"
    d.mkdir()
    shutil.copy(genome["fasta"], d / "genome.fa")
    import prismtools.pp._sequence as seqmod

    real = os.access
    monkeypatch.setattr(seqmod.os, "access", lambda p, mode: False if str(p) == str(d) else real(p, mode))
    monkeypatch.setattr(pt.settings, "cachedir", tmp_path / "cache", raising=False)
    pt.pp.set_window(six, 20)
    pt.pp.add_sequence(six, d / "genome.fa")  # indexed elsewhere, the folder untouched
    assert not (d / "genome.fa.fai").exists()
    s1 = genome["seqs"]["chr1"]
    assert pt.pp._sequence.decode(six.obsm["sequence"][six.obs_names.get_loc("G1")]) == s1[990:1010]


# ---------------------------------------------------------------------------------------------- Hi-C memory
def test_hic_dense_fetch_bounded_by_window(genome, monkeypatch):
    """Clusters of genes must not fetch rectangles larger than a few windows (the 1.2 GB for 64 KB case)."""
    import cooler.api

    n = 40
    df = pd.DataFrame({"chrom": "chr1", "start": np.linspace(1_000, 45_000, n).astype(int),
                       "end": np.linspace(1_000, 45_000, n).astype(int) + 500, "strand": "+",
                       "gene_id": [f"g{i}" for i in range(n)]})
    a = pt.pp.read_genes(df)
    pt.pp.set_window(a, 4000, bin_size=1000)
    shapes = []
    real = cooler.api.RangeSelector2D.fetch

    def spy(self, *args, **kw):
        out = real(self, *args, **kw)
        shapes.append(np.shape(out))
        return out

    monkeypatch.setattr(cooler.api.RangeSelector2D, "fetch", spy)
    pt.settings.chunk_genes = 64
    pt.pp.add_hic(a, genome["cool"], sample="s", balance=False, transform=None)
    window_bins = 4000 // 1000 + 1
    assert shapes and max(r for r, _ in shapes) <= window_bins and max(c for _, c in shapes) <= 2 * window_bins + 1


def test_wide_windows_work_in_bounded_batches(genome, monkeypatch):
    """Per-base rows are extracted in batches of at most ROW_VALUES_BUDGET values; the values do not change."""
    import prismtools.pp._build as build

    def run():
        a = pt.pp.read_genes(genome["bed"])
        pt.pp.set_window(a, 4000, bin_size=100)
        pt.pp.add_hic(a, genome["cool"], sample="s", balance=False)
        pt.pp.add_track(a, genome["bigwig"], name="bw", sample="s", role="foreground")
        return np.asarray(a.obsm["tracks"])

    pt.settings.chunk_genes = 64
    whole = run()
    seen = []
    real = build.finish_rows

    def spy(values, **kw):
        seen.append(np.asarray(values).size)
        return real(values, **kw)

    monkeypatch.setattr(build, "ROW_VALUES_BUDGET", 8000)  # two genes of 4,000 bp per batch
    import prismtools.pp._bigwig as bwmod
    import prismtools.pp._hic as hicmod

    monkeypatch.setattr(bwmod, "finish_rows", spy)
    monkeypatch.setattr(hicmod, "finish_rows", spy)
    np.testing.assert_array_equal(run(), whole)
    assert seen and max(seen) <= 8000


def test_table_track_and_covariates_refuse_non_numeric(six):
    tab = pd.DataFrame({"rpm": ["1.0", "abc", "2"], "gc": ["0.4", "0,5", "0.6"]}, index=["G1", "G2", "G3"])
    pt.pp.set_window(six, 2000, bin_size=100)
    with pytest.raises(InputFileError, match=r"1 values in column 'rpm'.*G2='abc'"):
        pt.pp.add_table_track(six, tab, column="rpm", name="x", sample="s", role="foreground")
    with pytest.raises(InputFileError, match=r"column 'gc'.*G2='0,5'.*decimal comma"):
        pt.pp.add_covariates(six, tab, keys=["gc"])
