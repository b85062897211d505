import numpy as np
import pandas as pd
import pytest
import dask.array as da

import prismtools as pt
from prismtools.pp._sequence import decode, encode


def _rc(s: str) -> str:
    return s[::-1].translate(str.maketrans("ACGT", "TGCA"))


def test_encode_decode_roundtrip():
    codes = encode("ACGTNacgtRY")
    assert codes.tolist() == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 4]
    assert decode(codes[:5]) == "ACGTN"


def test_add_sequence_reference_and_padding(genes, genome):
    pt.pp.set_window(genes, 20)
    pt.pp.add_sequence(genes, genome["fasta"])
    seq = genes.obsm["sequence"]
    assert seq.dtype == np.uint8 and seq.shape == (6, 20)
    s1 = genome["seqs"]["chr1"]
    assert decode(seq[genes.obs_names.get_loc("G1")]) == s1[990:1010]
    assert decode(seq[genes.obs_names.get_loc("G2")]) == s1[24989:25009]  # reference orientation, tss = 24999
    pt.pp.set_window(genes, 20)  # same window is fine
    with pytest.raises(ValueError, match="crop_window"):
        pt.pp.set_window(genes, 40)
    g = pt.pp.read_genes(genome["bed"])
    pt.pp.set_window(g, 2000)
    pt.pp.add_sequence(g, genome["fasta"])
    row = g.obsm["sequence"][g.obs_names.get_loc("G3")]  # tss 49,500; chr1 ends at 50,000
    assert (row[1500:] == 4).all() and (row[:1500] < 4).all()
    row = g.obsm["sequence"][g.obs_names.get_loc("G6")]  # tss 300: 700 bases before chr start
    assert (row[:700] == 4).all() and decode(row[700:710]) == s1[0:10]


def test_add_sequence_reverse_complement(genes, genome):
    pt.pp.set_window(genes, 20)
    pt.pp.add_sequence(genes, genome["fasta"], reverse_complement_minus=True)
    s1 = genome["seqs"]["chr1"]
    got = decode(genes.obsm["sequence"][genes.obs_names.get_loc("G2")])
    assert got == _rc(s1[24990:25010])
    assert got[10] == _rc(s1[24999])  # the TSS base stays at width // 2
    assert genes.uns["prism"]["window"]["orientation"] == "transcript"


def test_add_sequence_bad_inputs(genes, genome, tmp_path):
    with pytest.raises(ValueError, match="set_window"):
        pt.pp.add_sequence(genes, genome["fasta"])
    pt.pp.set_window(genes, 20)
    with pytest.raises(FileNotFoundError, match="missing.fa"):
        pt.pp.add_sequence(genes, tmp_path / "missing.fa")
    other = tmp_path / "other.fa"
    other.write_text(">chrZ\nACGT\n")
    with pytest.raises(ValueError, match="right assembly"):
        pt.pp.add_sequence(genes, other)


def test_add_track_per_base(genes, genome):
    pt.pp.set_window(genes, 1000)
    pt.pp.add_track(genes, genome["bigwig"], name="sig", sample="s", role="foreground")
    t = genes.obsm["tracks"]
    assert t.shape == (6, 1, 1000) and t.dtype == np.float32
    g1 = t[genes.obs_names.get_loc("G1"), 0]
    assert np.array_equal(g1, np.arange(500, 1500, dtype=np.float32))  # value at base p is p
    g6 = t[genes.obs_names.get_loc("G6"), 0]  # window [-200, 800): before chr start and the [100, 200) gap -> 0
    assert (g6[:200] == 0).all() and np.array_equal(g6[200:300], np.arange(100)) and (g6[300:400] == 0).all()
    assert g6[400] == 200
    g4 = t[genes.obs_names.get_loc("G4"), 0]  # chr2 value = 10 * p; minus strand, tss = 8999, no flip
    assert g4[500] == 89990
    tab = genes.uns["prism"]["tracks"]
    assert tab.iloc[0].to_dict() == {"name": "sig", "sample": "s", "role": "foreground", "kind": "bigwig",
                                     "source": str(genome["bigwig"]), "transform": ""}


def test_add_track_binned_and_nan(genes, genome):
    pt.pp.set_window(genes, 1000, bin_size=10)
    pt.pp.add_track(genes, genome["bigwig"], name="mean", sample="s", role="foreground")
    pt.pp.add_track(genes, genome["bigwig"], name="max", sample="s", role="background", stat="max", nan=None)
    t = genes.obsm["tracks"]
    assert t.shape == (6, 2, 100)
    g1 = genes.obs_names.get_loc("G1")
    assert t[g1, 0, 0] == pytest.approx(504.5) and t[g1, 1, 0] == 509
    g6 = genes.obs_names.get_loc("G6")
    assert np.isnan(t[g6, 1, 0]) and t[g6, 0, 0] == 0


def test_add_track_strand_flip_and_chrom_prefix(genes, genome, caplog):
    pt.pp.set_window(genes, 20)
    pt.pp.add_sequence(genes, genome["fasta"], reverse_complement_minus=True)
    pt.pp.add_track(genes, genome["bigwig"], name="sig", sample="s", role="foreground")
    g2 = genes.obsm["tracks"][genes.obs_names.get_loc("G2"), 0]
    assert g2[10] == 24999 and g2[0] == 25009  # reversed along the transcript
    with caplog.at_level("WARNING"):
        pt.pp.add_track(genes, genome["nochr"], name="ones", sample="s", role="background")
    assert "2 of 6 genes are on chromosomes absent" in caplog.text  # chr2 genes; chr1 matched as '1'
    assert genes.obsm["tracks"][genes.obs_names.get_loc("G1"), 1].sum() == 20


def test_add_track_bad_inputs(genes, genome, tmp_path):
    pt.pp.set_window(genes, 100)
    with pytest.raises(ValueError, match="role must be one of"):
        pt.pp.add_track(genes, genome["bigwig"], name="x", sample="s", role="fg")
    with pytest.raises(FileNotFoundError, match="nope.bw"):
        pt.pp.add_track(genes, tmp_path / "nope.bw", name="x", sample="s", role="foreground")
    bad = tmp_path / "bad.bw"
    bad.write_text("not a bigwig")
    with pytest.raises(ValueError, match="bad.bw"):
        pt.pp.add_track(genes, bad, name="x", sample="s", role="foreground")
    pt.pp.add_track(genes, genome["bigwig"], name="x", sample="s", role="foreground")
    with pytest.raises(ValueError, match="already exists"):
        pt.pp.add_track(genes, genome["bigwig"], name="x", sample="s", role="foreground")
    assert genes.obsm["tracks"].shape[1] == 1  # nothing half-added


def test_add_hic_virtual_4c(genes, genome):
    pt.pp.set_window(genes, 4000)
    pt.pp.add_hic(genes, genome["cool"], sample="s", balance=False, transform=None)
    t = genes.obsm["tracks"][genes.obs_names.get_loc("G1"), 0]  # tss 1000 -> bin 1; window [-1000, 3000)
    assert (t[:1000] == 0).all()  # before the chromosome start
    assert (t[1000:2000] == 2).all() and (t[2000:3000] == 3).all() and (t[3000:] == 4).all()
    row = genes.uns["prism"]["tracks"].iloc[0]
    assert row["kind"] == "hic" and row["role"] == "background"
    pt.pp.add_hic(genes, genome["mcool"], name="HiC_log", sample="s", resolution=1000, balance=False)
    t2 = genes.obsm["tracks"][genes.obs_names.get_loc("G1"), 1]
    assert t2[1500] == pytest.approx(np.log10(3.0))


def test_add_hic_bad_inputs(genes, genome):
    pt.pp.set_window(genes, 4000)
    with pytest.raises(ValueError, match="resolution="):
        pt.pp.add_hic(genes, genome["mcool"], sample="s", balance=False)
    with pytest.raises(ValueError, match="no resolution 5000"):
        pt.pp.add_hic(genes, genome["mcool"], sample="s", resolution=5000, balance=False)
    with pytest.raises(ValueError, match="cooler balance"):
        pt.pp.add_hic(genes, genome["cool"], sample="s")  # no weights


def test_table_track_and_crop(genes):
    pt.pp.set_window(genes, 2000, bin_size=100)
    tab = pd.DataFrame({"rpm": [2.0, 4.0]}, index=["G1", "G2"])
    pt.pp.add_table_track(genes, tab, column="rpm", name="H3K27ac", sample="s", role="foreground", extent=500)
    t = genes.obsm["tracks"][:, 0, :]
    g1 = t[genes.obs_names.get_loc("G1")]
    assert (g1[5:15] == 2).all() and (g1[:5] == 0).all() and (g1[15:] == 0).all()
    assert (t[genes.obs_names.get_loc("G3")] == 0).all()
    pt.pp.crop_window(genes, 1000)
    assert genes.obsm["tracks"].shape == (6, 1, 10) and (genes.obsm["tracks"][genes.obs_names.get_loc("G1"), 0] == 2).all()


def test_get_tracks_xarray(genes, genome):
    pt.pp.set_window(genes, 100, bin_size=10)
    pt.pp.add_track(genes, genome["bigwig"], name="a", sample="s1", role="foreground")
    pt.pp.add_track(genes, genome["bigwig"], name="a", sample="s2", role="background")
    x = pt.get_tracks(genes)
    assert x.dims == ("gene", "track", "position") and x.shape == (6, 2, 10)
    assert x.position.values[0] == -50 and x.position.values[5] == 0
    x2 = pt.get_tracks(genes, "s2")
    assert x2.shape[1] == 1 and x2.role.values[0] == "background"
    assert float(x.sel(gene="G1", track="a").isel(track=0, position=5)) == pytest.approx(1004.5)
    with pytest.raises(KeyError, match="Available tracks"):
        pt.get_tracks(genes, tracks=["b"])


@pytest.mark.parametrize("method", ["log1p", "zscore", "quantile"])
def test_normalize_tracks(genes, genome, method):
    pt.pp.set_window(genes, 100)
    pt.pp.add_track(genes, genome["bigwig"], name="a", sample="s", role="foreground")
    raw = genes.obsm["tracks"].copy()
    pt.pp.normalize_tracks(genes, method=method)
    out = genes.obsm["tracks"]
    if method == "log1p":
        assert np.allclose(out, np.log1p(raw))
    elif method == "zscore":
        assert abs(out.mean()) < 1e-4 and out.std() == pytest.approx(1, rel=1e-3)
    else:
        assert out.min() >= 0 and out.max() <= 1
        # monotone: order of values is preserved
        flat_r, flat_o = raw.ravel(), out.ravel()
        o = np.argsort(flat_r, kind="stable")
        assert (np.diff(flat_o[o]) >= -1e-7).all()
    assert genes.uns["prism"]["tracks"]["transform"].iloc[0] == method
    with pytest.raises(ValueError, match="method must be"):
        pt.pp.normalize_tracks(genes, method="rank")


def test_normalize_zscore_fits_on_train_only(genes, genome):
    pt.pp.set_window(genes, 100)
    pt.pp.add_track(genes, genome["bigwig"], name="a", sample="s", role="foreground")
    pt.pp.split_chromosomes(genes, test="chr2")
    raw = genes.obsm["tracks"].copy()
    pt.pp.normalize_tracks(genes, method="zscore")
    train = (genes.obs["split"] == "train").to_numpy()
    assert abs(genes.obsm["tracks"][train].mean()) < 1e-3
    mu = raw[train].mean()
    assert genes.uns["prism"]["normalization"]["a"]["mean"] == pytest.approx(mu, rel=1e-5)
