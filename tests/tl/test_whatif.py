"""What-if analyses: variant effects and track perturbations on a tiny simulated genome."""

import numpy as np
import pandas as pd
import pytest

import prismtools as pt
from prismtools.pp._sequence import decode


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    return pt.datasets.simulate(tmp_path_factory.mktemp("wi") / "g", n_genes=40, chromosomes=2, chrom_size=300_000,
                                seed=5, hic=False)


def _adata(sim, *, transcript=False):
    a = pt.pp.read_genes(sim.gtf)
    pt.pp.add_expression(a, sim.expression, sample="SIM", gene_key="gene_id", value="SIM")
    pt.pp.set_window(a, 400, bin_size=20)
    pt.pp.add_sequence(a, sim.fasta, reverse_complement_minus=transcript)
    pt.pp.add_track(a, sim.bigwigs["SIM"]["H3K27ac"], name="H3K27ac", sample="SIM", role="foreground")
    pt.pp.add_track(a, sim.bigwigs["SIM"]["DNase"], name="DNase", sample="SIM", role="background")
    pt.pp.split_chromosomes(a, test="chr2")
    return a


@pytest.fixture(scope="module", params=[False, True], ids=["reference", "transcript"])
def fitted(sim, request):
    a = _adata(sim, transcript=request.param)
    model = pt.tl.Prism(a, sample="SIM", d_model=8, n_layers=1, seed=0)
    model.fit(max_steps=3, batch_size=8, lr=1e-3, warmup_steps=1, progress=False)
    return a, model


def _genome_base(sim, chrom, pos0):
    from pyfaidx import Fasta

    with Fasta(str(sim.fasta), as_raw=True) as fa:
        return fa[chrom][pos0 : pos0 + 1].upper()


def _variant_at(a, sim, gene, offset):
    """A variant `offset` bp downstream of the gene's TSS along its transcript (1-based pos, genome ref)."""
    g = a.obs.loc[gene]
    p0 = int(g.tss) + (offset if g.strand == "+" else -offset)
    ref = _genome_base(sim, g.chrom, p0)
    alt = "A" if ref != "A" else "C"
    return pd.DataFrame({"chrom": [g.chrom], "pos": [p0 + 1], "ref": [ref], "alt": [alt], "id": ["v"]}), p0


@pytest.mark.parametrize("strand", ["+", "-"])
def test_variant_hand_checked_and_strand(fitted, sim, strand):
    a, model = fitted
    gene = a.obs_names[a.obs.strand == strand][0]
    var, p0 = _variant_at(a, sim, gene, 37)
    out = pt.tl.variant_effects(model, a, var, inplace=False)
    row = out[out.gene == gene].iloc[0]
    assert row.distance_to_tss == 37  # strand-aware: downstream is positive on both strands
    # hand-check: the edited copy's sequence has the alt allele at the right column, and its prediction matches
    transcript = a.uns["prism"]["window"]["orientation"] == "transcript"
    i = a.obs_names.get_loc(gene)
    start = pt.pp._window.window_starts(a)[i]
    col = start + 400 - 1 - p0 if (transcript and strand == "-") else p0 - start
    seq = np.asarray(a.obsm["sequence"][i]).copy()
    comp = {"A": "T", "C": "G", "G": "C", "T": "A"}
    flip = transcript and strand == "-"
    assert decode(seq[col : col + 1]) == (comp[row.ref] if flip else row.ref)
    one = a[[gene]].copy()
    one.obsm["sequence"] = one.obsm["sequence"].copy()
    one.obsm["sequence"][0, col] = pt.pp._sequence.encode(comp[row.alt] if flip else row.alt)[0]
    model.predict(one, key_added="hand")
    model.predict(a[[gene]].copy(), key_added="hand0")
    assert row.alt_pred == pytest.approx(float(one.obs["hand_pred"].iloc[0]), abs=1e-5)
    assert row.effect != 0


def test_variant_no_input_change_no_prediction_change(fitted, sim):
    a, model = fitted
    gene = a.obs_names[0]
    var, _ = _variant_at(a, sim, gene, 5)
    far = pd.DataFrame({"chrom": ["chr1"], "pos": [299_990], "ref": ["A"], "alt": ["C"], "id": ["far"]})
    same = var.assign(alt=var.ref, id="same")
    model.predict(a, key_added="before")
    seq_before = np.asarray(a.obsm["sequence"]).copy()
    pt.tl.variant_effects(model, a, pd.concat([var, far, same]))
    res, par = a.uns["variant_effects"], a.uns["variant_effects_params"]
    assert set(res.variant_id) == {"v"}  # ref == alt refused, the far variant overlaps no window
    assert par["ref_equals_alt_refused"] == 1 and par["outside_windows"] == 1
    # scoring edits copies only: adata's inputs and predictions are unchanged
    assert np.array_equal(np.asarray(a.obsm["sequence"]), seq_before)
    model.predict(a, key_added="after")
    assert np.array_equal(a.obs["before_pred"], a.obs["after_pred"])


def test_ref_mismatch_and_indels_and_multiallelic(fitted, sim, tmp_path, caplog):
    a, model = fitted
    gene = a.obs_names[1]
    var, _ = _variant_at(a, sim, gene, 10)
    wrong_ref = "A" if var.ref[0] != "A" else "G"
    g = a.obs.loc[gene]
    vcf = tmp_path / "v.vcf"
    vcf.write_text(
        "##fileformat=VCFv4.2\n##contig=<ID=1,length=300000>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
        f"{g.chrom[3:]}\t{var.pos[0]}\tok\t{var.ref[0]}\t{var.alt[0]},{'T' if var.ref[0] != 'T' else 'G'}\t.\t.\t.\n"
        f"{g.chrom[3:]}\t{var.pos[0]}\tbad\t{wrong_ref}\tC\t.\t.\t.\n"
        f"{g.chrom[3:]}\t{var.pos[0]}\tindel\t{var.ref[0]}\t{var.ref[0]}AA\t.\t.\t.\n"
    )
    with caplog.at_level("WARNING"):
        out = pt.tl.variant_effects(model, a, vcf, inplace=False)  # plain text, no index, '1' vs 'chr1'
    assert set(out.variant_id) == {"ok"} and (out.gene == gene).any()
    assert len(out[out.gene == gene]) == 2  # multi-allelic split into two alts
    assert "ref does not match" in caplog.text
    pt.tl.variant_effects(model, a, vcf)
    par = a.uns["variant_effects_params"]
    assert par["ref_mismatch_skipped"] == 1 and par["indel_refused"] == 1 and par["multiallelic_split"] == 1
    with pytest.raises(ValueError, match="assembly"):
        pt.tl.variant_effects(model, a, var.assign(chrom="chrUn_x"))


def test_signals_only_model_refuses_variants(fitted):
    a, _ = fitted
    m = pt.tl.Prism(a, sample="SIM", use_sequence=False, d_model=8, n_layers=1)
    with pytest.raises(ValueError, match="does not read the DNA sequence"):
        pt.tl.variant_effects(m, a, pd.DataFrame({"chrom": ["chr1"], "pos": [100], "ref": ["A"], "alt": ["C"]}))


def test_perturb_identity_and_background(fitted):
    a, model = fitted
    # value equal to the current track: only possible exactly for a constant track; set a region's bins to c first
    b = a.copy()
    b.obsm["tracks"] = np.asarray(b.obsm["tracks"]).copy()
    b.obsm["tracks"][:, 0, 5:16] = 0.25
    out = pt.tl.perturb_tracks(model, b, track="H3K27ac", bp=(-100, 100), value=0.25, inplace=False)
    # in reference orientation a minus-strand [-100, 100) is genomic [tss - 99, tss + 101): one more bin touched
    transcript = a.uns["prism"]["window"]["orientation"] == "transcript"
    expect = np.where((out.strand == "-") & (not transcript), 11, 10)
    assert len(out) == b.n_obs and np.array_equal(out.n_bins.to_numpy(), expect)
    assert np.array_equal(out.ref_pred.to_numpy(), out.perturbed_pred.to_numpy())
    out = pt.tl.perturb_tracks(model, a, track="H3K27ac", bp=(-100, 100), inplace=False)
    assert np.abs(out.effect).max() > 0
    with pytest.raises(ValueError, match="not inputs of this model"):
        pt.tl.perturb_tracks(model, a, track="CTCF", bp=(0, 10))


def test_perturb_region_strand(fitted, sim):
    a, model = fitted
    # a region just downstream of a minus-strand TSS maps to the same bins as bp=(0, 100)
    g = a.obs[a.obs.strand == "-"].iloc[0]
    reg = pd.DataFrame({"chrom": [g.chrom], "start": [int(g.tss) - 99], "end": [int(g.tss) + 1], "name": ["r"]})
    by_region = pt.tl.perturb_tracks(model, a, track="H3K27ac", region=reg, value="zero", inplace=False)
    by_bp = pt.tl.perturb_tracks(model, a, track="H3K27ac", bp=(0, 100), value="zero", inplace=False)
    r = by_region.set_index("gene").loc[g.name]
    q = by_bp.set_index("gene").loc[g.name]
    transcript = a.uns["prism"]["window"]["orientation"] == "transcript"
    assert r.n_bins == q.n_bins == (5 if transcript else 6)  # reference rows: minus-strand bins straddle the TSS
    assert r.distance_to_tss == 49
    assert r.effect == pytest.approx(q.effect, abs=1e-6)
    # the BED reader and the simulator's regions
    pt.tl.perturb_tracks(model, a, track="H3K27ac", region=sim.perturbations, key_added="crispri")
    assert a.uns["crispri_params"]["n_regions"] > 0
