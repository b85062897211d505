"""``pt.datasets.simulate``: a synthetic genome with a known causal structure, written in real file formats.

Generative story (all parameters are arguments; everything follows from ``seed``)
---------------------------------------------------------------------------------
For each chromosome, a **latent background chromatin state** ``C(x)`` is piecewise constant over domains of
about ``domain_size`` bp (``C ~ N(0, 1)`` per domain, per biosample), like A/B compartments (defaults: 200 kb domains). Genes get random
TSSs and strands. Then, per gene ``g`` with TSS ``t`` and state ``c_g = C(t)``:

1. **Promoter sequence** (within +/- 1 kb of the TSS, read on the transcript strand): a TATA box ``TATAAA`` is
   planted at -30 with probability 0.3, and ``GGGCGG`` (activator) and ``ACGCGT`` (repressor)
   motifs at random positions (Poisson counts). ``seq_effect = motif_effect * (1.0 * TATA@-30 + 0.3 * #GGGCGG
   - 0.3 * #ACGCGT)``, counted in the final sequence (chance occurrences included).
2. **Foreground mark** (H3K27ac-like bigWig): a promoter peak of height ``h_g ~ Gamma(2, 1)`` centred on the TSS
   (SD 300 bp) and ``Poisson(distal_per_gene)`` distal enhancer peaks 10-100 kb away with heights
   ``Gamma(2, 1)``; plus a low noisy floor. ``fg_effect = foreground_effect * log1p(h_g)``;
   ``distal_effect = distal_effect * sum_e log1p(h_e) * exp(-d_e / distal_scale)`` (weak, decays with distance).
3. **Background signals**: DNase-like bigWig = ``softplus(1.5 * C(x))`` + a small promoter peak
   (``dnase_promoter * h_g``) + noise; Hi-C ``.mcool`` with expected contacts
   ``depth * (1 + |i - j|)^-1 * exp(hic_compartment * C_i * C_j)`` (Poisson counts, 5 and 10 kb, balanced).
4. **Expression** (log scale, like ``log10(CAGE + 1)``):
   ``y = 1 + seq_effect + fg_effect + distal_effect + w_c * c_g + N(0, noise^2)``, where the confounding weight
   ``w_c = confounding`` on training chromosomes and ``confounding_test`` on ``test_chromosomes`` (a
   distribution shift in how strongly the background state is associated with expression).

5. **What-if ground truth** (drawn from a separate generator derived from ``seed``, so every other output is
   unchanged): ``variants.vcf`` holds SNVs inside planted promoter motifs (``CLASS=motif``), at random positions
   within +/- 1 kb of a TSS (``CLASS=promoter``; mostly neutral, unless they make or break a motif) and far from
   every TSS (``CLASS=neutral``). Their true effect is the change in ``y_clean`` when the generative model is
   re-evaluated with the alternative allele: ``motif_effect * (1.0 * dTATA@-30 + 0.3 * d#GGGCGG - 0.3 *
   d#ACGCGT)``, for every gene whose +/- 1 kb promoter contains the variant (``variant_effects.tsv``: one row
   per variant and affected gene; a variant with no row changes no gene). ``perturbations.bed`` holds 1 kb
   intervals over promoter peaks (``promoter``), distal enhancer peaks (``enhancer``) and peak-free sequence
   (``neutral``); silencing one removes the foreground peaks centred inside it (height set to 0), so the true
   change is ``-foreground_effect * log1p(h_g)`` for a silenced promoter peak and ``-distal_effect * log1p(h_e)
   * exp(-d_e / distal_scale)`` for a silenced enhancer of that gene (``perturbation_effects.tsv``: one row per
   region, gene and sample with a non-zero true change; regions without a row change nothing). Sequence and
   background signals have no part in the foreground's effect, so silencing is defined on the foreground
   (``H3K27ac``) track.

So the background state ``C`` drives the background signals (DNase, Hi-C) **and** expression: it confounds
(``H <- C -> Y``). The expression table holds ``y`` per biosample; ``truth.tsv`` holds every component.

What it can and cannot say: it checks that a method recovers planted proximal effects, uses the foreground
signal, and how it behaves under a confounder whose strength shifts between chromosomes. It does not model
real motif grammar, real chromatin biology, 3D structure beyond distance decay and compartments, or
measurement artefacts of real assays.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..io._atomic import remove, replace_path, temp_sibling

logger = logging.getLogger(__name__)

STEP = 50
MOTIFS = {"TATA": "TATAAA", "activator": "GGGCGG", "repressor": "ACGCGT"}
_COMP = str.maketrans("ACGT", "TGCA")


def _rc(s: str) -> str:
    return s.translate(_COMP)[::-1]


@dataclass
class SimulatedGenome:
    """Paths of a simulated genome and its ground truth (returned by :func:`simulate`)."""

    root: Path
    fasta: Path
    gtf: Path
    chrom_sizes: Path
    expression: Path
    truth_path: Path
    bigwigs: dict = field(default_factory=dict)  # sample -> {"H3K27ac": path, "DNase": path}
    mcool: dict = field(default_factory=dict)  # sample -> path
    params: dict = field(default_factory=dict)
    variants: Path | None = None  # variants.vcf
    variant_truth_path: Path | None = None  # variant_effects.tsv
    perturbations: Path | None = None  # perturbations.bed
    perturbation_truth_path: Path | None = None  # perturbation_effects.tsv

    @property
    def truth(self) -> pd.DataFrame:
        return pd.read_csv(self.truth_path, sep="\t", index_col="gene_id")

    @property
    def variant_truth(self) -> pd.DataFrame:
        """True expression change per (variant, affected gene): ``variant_id, chrom, pos, ref, alt, class,
        gene_id, true_effect`` (pairs absent from the table have a true effect of 0)."""
        return pd.read_csv(self.variant_truth_path, sep="\t")

    @property
    def perturbation_truth(self) -> pd.DataFrame:
        """True expression change per (region, gene, sample) of silencing the foreground track over the region:
        ``region, chrom, start, end, class, gene_id, sample, true_effect`` (absent pairs: 0)."""
        return pd.read_csv(self.perturbation_truth_path, sep="\t")


def _promoter_counts(s: np.ndarray, tss: int, strand: str) -> tuple[bool, int, int]:
    """TATA at -30, #activator and #repressor within [tss - 1 kb, tss + 1 kb) of ``s``, read on the transcript
    strand (how the expression model counts motifs)."""
    lo, hi = max(0, tss - 1000), min(len(s), tss + 1000)
    w = s[lo:hi].tobytes().decode()
    if strand == "-":
        w = _rc(w)
        t_idx = len(w) - 1 - (tss - lo)
    else:
        t_idx = tss - lo
    tata = w[t_idx - 30 : t_idx - 24] == MOTIFS["TATA"] if t_idx >= 30 else False
    return bool(tata), w.count(MOTIFS["activator"]), w.count(MOTIFS["repressor"])


def _gauss_kernel(sd_bins: float) -> np.ndarray:
    r = max(1, int(np.ceil(4 * sd_bins)))
    x = np.arange(-r, r + 1)
    return np.exp(-0.5 * (x / sd_bins) ** 2)


def _add_peaks(track: np.ndarray, centres: np.ndarray, heights: np.ndarray, sd_bp: float) -> None:
    imp = np.zeros_like(track)
    np.add.at(imp, np.clip(centres // STEP, 0, len(track) - 1).astype(np.int64), heights)
    track += np.convolve(imp, _gauss_kernel(sd_bp / STEP), mode="same")


def simulate(
    path: str | os.PathLike,
    *,
    n_genes: int = 2000,
    chromosomes: int | dict[str, int] = 4,
    chrom_size: int = 5_000_000,
    samples: tuple[str, ...] | list[str] = ("SIM",),
    seed: int = 0,
    test_chromosomes: list[str] | None = None,
    confounding: float = 0.5,
    confounding_test: float | None = None,
    noise: float = 0.2,
    motif_effect: float = 0.5,
    foreground_effect: float = 1.5,
    distal_effect: float = 0.3,
    distal_scale: float = 30_000,
    distal_per_gene: float = 3.0,
    dnase_promoter: float = 0.2,
    domain_size: int = 200_000,
    hic: bool = True,
    hic_resolution: int = 5000,
    hic_max_distance: int = 1_000_000,
    hic_compartment: float = 0.5,
    hic_depth: float = 50.0,
    overwrite: bool = False,
) -> SimulatedGenome:
    """Write a simulated genome with known causal structure (see the module docstring for the story).

    Parameters
    ----------
    path
        Output folder (written atomically: built in a temporary sibling, renamed when complete).
    n_genes
        Number of genes, spread over the chromosomes in proportion to their length.
    chromosomes
        Number of chromosomes (named ``chr1..chrN``, each ``chrom_size`` bp) or a ``{name: length}`` dict.
    chrom_size
        Length of each chromosome when ``chromosomes`` is a number.
    samples
        Biosamples; each gets its own background state, peaks, bigWigs, ``.mcool`` and expression column.
    seed
        Seed of the NumPy generator; the same seed gives identical files.
    test_chromosomes
        Chromosomes under ``confounding_test`` (default: the last one).
    confounding, confounding_test
        Weight of the background state on expression on training / test chromosomes (``confounding_test``
        defaults to ``confounding``: no shift).
    noise, motif_effect, foreground_effect, distal_effect, distal_scale, distal_per_gene, dnase_promoter
        Effect sizes (see the generative story).
    domain_size
        Mean size of background-state domains.
    hic, hic_resolution, hic_max_distance, hic_compartment, hic_depth
        Whether to write an ``.mcool`` (resolutions ``hic_resolution`` and twice that), and its contact model.
    overwrite
        Replace an existing folder.

    Returns
    -------
    :class:`SimulatedGenome` with the paths (``fasta``, ``gtf``, ``expression``, ``bigwigs[sample][mark]``,
    ``mcool[sample]``, ``truth_path``) and ``params``. ``truth.tsv`` has, per gene and sample, ``c_state``,
    ``seq_effect``, ``fg_effect``, ``distal_effect``, ``confounder_effect``, ``y_clean``, ``y`` and the motif
    counts. The what-if truth: ``variants.vcf`` with ``variant_effects.tsv`` and ``perturbations.bed`` with
    ``perturbation_effects.tsv`` (``variants``, ``perturbations``, ``variant_truth``, ``perturbation_truth``).
    """
    import pyBigWig

    root = Path(path)
    if root.exists() and not overwrite:
        raise FileExistsError(f"{str(root)!r} exists; pass overwrite=True to replace it.")
    rng = np.random.default_rng(seed)
    sizes = {f"chr{i + 1}": int(chrom_size) for i in range(chromosomes)} if isinstance(chromosomes, int) else {str(k): int(v) for k, v in chromosomes.items()}
    names = list(sizes)
    test_chromosomes = list(test_chromosomes) if test_chromosomes is not None else names[-1:]
    unknown = set(test_chromosomes) - set(sizes)
    if unknown:
        raise ValueError(f"test_chromosomes {sorted(unknown)} are not among the chromosomes {names}.")
    confounding_test = confounding if confounding_test is None else confounding_test
    samples = [str(s) for s in samples]
    params = {k: v for k, v in locals().items() if k in {
        "n_genes", "seed", "test_chromosomes", "confounding", "confounding_test", "noise", "motif_effect",
        "foreground_effect", "distal_effect", "distal_scale", "distal_per_gene", "dnase_promoter", "domain_size",
        "hic_resolution", "hic_max_distance", "hic_compartment", "hic_depth", "samples"}}
    params["chrom_sizes"] = sizes
    tmp = temp_sibling(root, "sim")
    tmp.mkdir(parents=True)
    try:
        # --- genes ------------------------------------------------------------------------------------
        lens = np.array([sizes[c] for c in names], dtype=np.float64)
        chrom_of = np.sort(rng.choice(len(names), n_genes, p=lens / lens.sum()))
        margin = 2_000
        tss = (margin + rng.random(n_genes) * (lens[chrom_of] - 2 * margin)).astype(np.int64)
        strand = np.where(rng.random(n_genes) < 0.5, "+", "-")
        glen = np.clip(rng.lognormal(np.log(15_000), 0.8, n_genes), 1_000, 100_000).astype(np.int64)
        start = np.where(strand == "+", tss, np.maximum(0, tss + 1 - glen))
        end = np.where(strand == "+", np.minimum(lens[chrom_of].astype(np.int64), tss + glen), tss + 1)
        gchrom = np.array(names)[chrom_of]
        order = np.lexsort((tss, chrom_of))
        gchrom, tss, strand, start, end = gchrom[order], tss[order], strand[order], start[order], end[order]
        gsize = np.array([sizes[c] for c in gchrom], dtype=np.int64)
        gene_ids = np.array([f"SIMG{i:06d}" for i in range(n_genes)])
        # --- sequence with planted promoter motifs -----------------------------------------------------
        codes = np.frombuffer(b"ACGT", dtype=np.uint8)
        seqs = {c: codes[rng.choice(4, sizes[c], p=[0.29, 0.21, 0.21, 0.29])].copy() for c in names}
        has_tata = rng.random(n_genes) < 0.3
        n_act = rng.poisson(1.5, n_genes)
        n_rep = rng.poisson(1.0, n_genes)
        for i in range(n_genes):
            s = seqs[gchrom[i]]
            plus = strand[i] == "+"

            def plant(motif: str, offset: int) -> None:  # offset along the transcript from the TSS
                m = motif if plus else _rc(motif)
                pos = tss[i] + offset if plus else tss[i] - offset - len(m) + 1
                if 0 <= pos and pos + len(m) <= len(s):
                    s[pos : pos + len(m)] = np.frombuffer(m.encode(), dtype=np.uint8)

            if has_tata[i]:
                plant(MOTIFS["TATA"], -30)
            for _ in range(n_act[i]):
                plant(MOTIFS["activator"], int(rng.integers(-1000, 994)))
            for _ in range(n_rep[i]):
                plant(MOTIFS["repressor"], int(rng.integers(-1000, 994)))
        fasta = tmp / "genome.fa"
        with open(fasta, "w") as fh:
            for c in names:
                fh.write(f">{c}\n")
                b = seqs[c].tobytes()
                fh.write("\n".join(b[k : k + 80].decode() for k in range(0, len(b), 80)) + "\n")
        # realised motif counts on the transcript strand within +/- 1 kb
        tata = np.zeros(n_genes, bool)
        act = np.zeros(n_genes, int)
        rep = np.zeros(n_genes, int)
        for i in range(n_genes):
            tata[i], act[i], rep[i] = _promoter_counts(seqs[gchrom[i]], int(tss[i]), str(strand[i]))
        seq_effect = motif_effect * (1.0 * tata + 0.3 * act - 0.3 * rep)
        # --- GTF ----------------------------------------------------------------------------------------
        gtf = tmp / "genes.gtf"
        with open(gtf, "w") as fh:
            for i in range(n_genes):
                fh.write(f"{gchrom[i]}\tsim\tgene\t{start[i] + 1}\t{end[i]}\t.\t{strand[i]}\t.\t"
                         f'gene_id "{gene_ids[i]}"; gene_name "S{i}"; gene_type "protein_coding";\n')
        (tmp / "genome.chrom.sizes").write_text("".join(f"{c}\t{n}\n" for c, n in sizes.items()))
        truth_rows, expr = [], {}
        bigwigs, mcools = {}, {}
        peaks = {}
        for sample in samples:
            # background state per domain
            state = {}
            for c in names:
                n_dom = max(1, int(np.ceil(sizes[c] / domain_size)))
                bounds = np.sort(rng.integers(0, sizes[c], n_dom - 1)) if n_dom > 1 else np.array([], np.int64)
                state[c] = (bounds, rng.normal(0, 1, n_dom))
            c_g = np.array([state[gchrom[i]][1][np.searchsorted(state[gchrom[i]][0], tss[i], side="right")] for i in range(n_genes)])
            h = rng.gamma(2.0, 1.0, n_genes)
            n_enh = rng.poisson(distal_per_gene, n_genes)
            enh_gene = np.repeat(np.arange(n_genes), n_enh)
            enh_d = rng.uniform(10_000, 100_000, enh_gene.size) * np.where(rng.random(enh_gene.size) < 0.5, -1, 1)
            enh_pos = tss[enh_gene] + enh_d.astype(np.int64)
            enh_h = rng.gamma(2.0, 1.0, enh_gene.size)
            ok = (enh_pos >= 0) & (enh_pos < gsize[enh_gene])
            dist_contrib = np.zeros(n_genes)
            np.add.at(dist_contrib, enh_gene[ok], np.log1p(enh_h[ok]) * np.exp(-np.abs(enh_d[ok]) / distal_scale))
            fg = foreground_effect * np.log1p(h)
            dist = distal_effect * dist_contrib
            peaks[sample] = (h, enh_gene[ok], enh_pos[ok], enh_h[ok], np.abs(enh_d[ok]))
            w_c = np.where(np.isin(gchrom, test_chromosomes), confounding_test, confounding)
            conf = w_c * c_g
            y_clean = 1.0 + seq_effect + fg + dist + conf
            y = y_clean + rng.normal(0, noise, n_genes)
            expr[sample] = y
            truth_rows.append(pd.DataFrame({
                "gene_id": gene_ids, "sample": sample, "chrom": gchrom, "tss": tss, "strand": strand,
                "split_shift": np.where(np.isin(gchrom, test_chromosomes), "test", "train"),
                "c_state": c_g, "tata": tata, "n_activator": act, "n_repressor": rep, "promoter_peak": h,
                "n_enhancers": np.bincount(enh_gene[ok], minlength=n_genes), "seq_effect": seq_effect,
                "fg_effect": fg, "distal_effect": dist, "confounding_weight": w_c, "confounder_effect": conf,
                "y_clean": y_clean, "y": y}))
            # bigWigs (50 bp steps)
            paths = {"H3K27ac": tmp / f"{sample}_H3K27ac.bw", "DNase": tmp / f"{sample}_DNase.bw"}
            bws = {k: pyBigWig.open(str(p), "w") for k, p in paths.items()}
            for bw in bws.values():
                bw.addHeader(list(sizes.items()))
            for c in names:
                nb = int(np.ceil(sizes[c] / STEP))
                on = gchrom == c
                fgt = rng.exponential(0.05, nb)
                _add_peaks(fgt, tss[on], 3.0 * h[on], 300)
                eon = ok & (gchrom[enh_gene] == c)
                _add_peaks(fgt, enh_pos[eon], 3.0 * enh_h[eon], 300)
                bounds, vals = state[c]
                cx = vals[np.searchsorted(bounds, np.arange(nb) * STEP, side="right")]
                dn = np.log1p(np.exp(1.5 * cx)) + rng.exponential(0.05, nb)
                _add_peaks(dn, tss[on], dnase_promoter * 3.0 * h[on], 150)
                for key, track in (("H3K27ac", fgt), ("DNase", dn)):
                    bws[key].addEntries(c, 0, values=np.round(track, 3).astype(np.float64).tolist(), span=STEP, step=STEP)
            for bw in bws.values():
                bw.close()
            bigwigs[sample] = {k: root / p.name for k, p in paths.items()}
            if hic:
                _write_mcool(tmp / f"{sample}.mcool", sizes, state, rng, hic_resolution, hic_max_distance,
                             hic_compartment, hic_depth)
                mcools[sample] = root / f"{sample}.mcool"
        _write_whatifs(tmp, np.random.default_rng([int(seed), 12]), seqs, sizes, gene_ids, gchrom, tss, strand,
                       peaks, motif_effect=motif_effect, foreground_effect=foreground_effect,
                       distal_effect=distal_effect, distal_scale=distal_scale)
        pd.DataFrame({"gene_id": gene_ids, **expr}).to_csv(tmp / "expression.tsv", sep="\t", index=False, float_format="%.5f")
        pd.concat(truth_rows).to_csv(tmp / "truth.tsv", sep="\t", index=False, float_format="%.5f")
        (tmp / "params.json").write_text(json.dumps(params, indent=1, default=str))
        (tmp / "README.md").write_text(__doc__ or "")
        replace_path(tmp, root)
    except BaseException:
        remove(tmp)
        raise
    logger.info("simulated %d genes on %d chromosomes, %d samples into %s", n_genes, len(names), len(samples), root)
    return SimulatedGenome(root=root, fasta=root / "genome.fa", gtf=root / "genes.gtf",
                           chrom_sizes=root / "genome.chrom.sizes", expression=root / "expression.tsv",
                           truth_path=root / "truth.tsv", bigwigs=bigwigs, mcool=mcools, params=params,
                           variants=root / "variants.vcf", variant_truth_path=root / "variant_effects.tsv",
                           perturbations=root / "perturbations.bed",
                           perturbation_truth_path=root / "perturbation_effects.tsv")


def _write_whatifs(tmp: Path, rng, seqs, sizes, gene_ids, gchrom, tss, strand, peaks, *, motif_effect,
                   foreground_effect, distal_effect, distal_scale) -> None:
    """Write ``variants.vcf`` + ``variant_effects.tsv`` and ``perturbations.bed`` + ``perturbation_effects.tsv``
    (true effects re-evaluated from the generative model; see the module docstring)."""
    import re

    n = len(gene_ids)
    names = list(sizes)
    by_chrom = {c: np.flatnonzero(gchrom == c) for c in names}  # genes are sorted by (chrom, tss)
    # --- variants ---------------------------------------------------------------------------------------
    cand = []  # (chrom, 0-based pos, class)
    for i in rng.choice(n, size=min(n, max(1, n // 2)), replace=False):
        s, t = seqs[gchrom[i]], int(tss[i])
        lo, hi = max(0, t - 1000), min(len(s), t + 1000)
        w = s[lo:hi].tobytes().decode()
        hits = [(m.start(), len(motif)) for motif in (MOTIFS["activator"], MOTIFS["repressor"], _rc(MOTIFS["activator"]),
                                                    _rc(MOTIFS["repressor"]), MOTIFS["TATA"], _rc(MOTIFS["TATA"]))
                for m in re.finditer(motif, w)]
        if hits:
            st, ln = hits[int(rng.integers(len(hits)))]
            cand.append((gchrom[i], lo + st + int(rng.integers(ln)), "motif"))
    for i in rng.choice(n, size=min(n, max(1, n // 2)), replace=False):
        cand.append((gchrom[i], int(tss[i]) + int(rng.integers(-1000, 1000)), "promoter"))
    for _ in range(max(1, n // 10)):
        c = names[int(rng.integers(len(names)))]
        p = int(rng.integers(0, sizes[c]))
        near = tss[by_chrom[c]]
        if near.size == 0 or np.min(np.abs(near - p)) > 5000:
            cand.append((c, p, "neutral"))
    seen, vrows, trows = set(), [], []
    for c, p, cls in cand:
        s = seqs[c]
        if not 0 <= p < len(s) or (c, p) in seen:
            continue
        seen.add((c, p))
        ref = chr(s[p])
        alt = "ACGT"[int(rng.choice([k for k in range(4) if "ACGT"[k] != ref]))]
        vrows.append((c, p, ref, alt, cls))
    vrows.sort(key=lambda r: (names.index(r[0]), r[1]))
    for k, (c, p, ref, alt, cls) in enumerate(vrows):
        vid = f"simv{k:06d}"
        g = by_chrom[c]
        hit = g[(tss[g] - 1000 <= p) & (p < tss[g] + 1000)]
        s = seqs[c]
        before = [_promoter_counts(s, int(tss[i]), str(strand[i])) for i in hit]
        s[p] = ord(alt)
        after = [_promoter_counts(s, int(tss[i]), str(strand[i])) for i in hit]
        s[p] = ord(ref)
        for i, b, a in zip(hit, before, after):
            eff = motif_effect * (1.0 * (a[0] - b[0]) + 0.3 * (a[1] - b[1]) - 0.3 * (a[2] - b[2]))
            trows.append((vid, c, p + 1, ref, alt, cls, gene_ids[i], eff))
        vrows[k] = (c, p + 1, vid, ref, alt, cls)
    with open(tmp / "variants.vcf", "w") as fh:
        fh.write("##fileformat=VCFv4.2\n##source=prismtools.datasets.simulate\n")
        fh.writelines(f"##contig=<ID={c},length={sizes[c]}>\n" for c in names)
        fh.write('##INFO=<ID=CLASS,Number=1,Type=String,Description="motif, promoter or neutral">\n')
        fh.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        fh.writelines(f"{c}\t{p}\t{v}\t{r}\t{a}\t.\tPASS\tCLASS={cls}\n" for c, p, v, r, a, cls in vrows)
    pd.DataFrame(trows, columns=["variant_id", "chrom", "pos", "ref", "alt", "class", "gene_id", "true_effect"]).to_csv(
        tmp / "variant_effects.tsv", sep="\t", index=False, float_format="%.5f")
    # --- perturbations ----------------------------------------------------------------------------------
    first = next(iter(peaks.values()))
    regions = [(gchrom[i], int(tss[i]) - 500, "promoter") for i in rng.choice(n, size=max(1, n // 4), replace=False)]
    _, eg, ep, _, _ = first
    if eg.size:
        regions += [(gchrom[eg[j]], int(ep[j]) - 500, "enhancer")
                    for j in rng.choice(eg.size, size=min(eg.size, max(1, n // 4)), replace=False)]
    for _ in range(max(1, n // 10)):
        c = names[int(rng.integers(len(names)))]
        p = int(rng.integers(0, sizes[c]))
        centres = np.concatenate([tss[by_chrom[c]]] + [pk[2][gchrom[pk[1]] == c] for pk in peaks.values()])
        if centres.size == 0 or np.min(np.abs(centres - p)) > 5000:
            regions.append((c, p - 500, "neutral"))
    regions = sorted({(c, max(0, s0), min(sizes[c], s0 + 1000), cls) for c, s0, cls in regions},
                     key=lambda r: (names.index(r[0]), r[1], r[2]))
    prow = []
    for k, (c, s0, e0, cls) in enumerate(regions):
        rid = f"simr{k:05d}"
        for sample, (h, eg, ep, eh, ed) in peaks.items():
            for i in np.flatnonzero((gchrom == c) & (tss >= s0) & (tss < e0)):
                prow.append((rid, c, s0, e0, cls, gene_ids[i], sample, -foreground_effect * np.log1p(h[i])))
            for j in np.flatnonzero((gchrom[eg] == c) & (ep >= s0) & (ep < e0)):
                prow.append((rid, c, s0, e0, cls, gene_ids[eg[j]], sample,
                             -distal_effect * np.log1p(eh[j]) * np.exp(-ed[j] / distal_scale)))
    with open(tmp / "perturbations.bed", "w") as fh:
        fh.writelines(f"{c}\t{s0}\t{e0}\tsimr{k:05d}\t0\t.\t{cls}\n" for k, (c, s0, e0, cls) in enumerate(regions))
    pt = pd.DataFrame(prow, columns=["region", "chrom", "start", "end", "class", "gene_id", "sample", "true_effect"])
    pt = pt.groupby(["region", "chrom", "start", "end", "class", "gene_id", "sample"], as_index=False, sort=False)["true_effect"].sum()
    pt.to_csv(tmp / "perturbation_effects.tsv", sep="\t", index=False, float_format="%.5f")


def _write_mcool(path: Path, sizes, state, rng, res, max_dist, gamma, depth) -> None:
    """Poisson contacts at ``res`` (and aggregated at ``2 * res``) written as an .mcool with unit ``weight``s:
    the simulation has no bin-specific biases, so balanced and raw contacts coincide."""
    import cooler

    k = max_dist // res
    local = []  # per chromosome: (bin1, bin2, count) with chromosome-local bin ids at the base resolution
    for c, n in sizes.items():
        nb = int(np.ceil(n / res))
        bounds, vals = state[c]
        cb = vals[np.searchsorted(bounds, np.arange(nb) * res + res // 2, side="right")]
        d = np.concatenate([np.full(nb - dd, dd) for dd in range(0, min(k, nb - 1) + 1)])
        i = np.concatenate([np.arange(nb - dd) for dd in range(0, min(k, nb - 1) + 1)])
        j = i + d
        cnt = rng.poisson(depth / (1.0 + d) * np.exp(gamma * cb[i] * cb[j]))
        keep = cnt > 0
        local.append((i[keep], j[keep], cnt[keep]))
    for factor in (1, 2):
        r = res * factor
        bins = cooler.binnify(pd.Series(sizes), r)
        bins["weight"] = 1.0
        parts, off = [], 0
        for (c, n), (i, j, cnt) in zip(sizes.items(), local):
            df = pd.DataFrame({"bin1_id": i // factor, "bin2_id": j // factor, "count": cnt})
            df = df.groupby(["bin1_id", "bin2_id"], as_index=False, sort=True)["count"].sum()
            df[["bin1_id", "bin2_id"]] += off
            parts.append(df)
            off += int(np.ceil(n / r))
        cooler.create_cooler(f"{path}::/resolutions/{r}", bins, pd.concat(parts, ignore_index=True), ordered=True,
                             assembly="sim", mode="a")
