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

    @property
    def truth(self) -> pd.DataFrame:
        return pd.read_csv(self.truth_path, sep="\t", index_col="gene_id")


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
    counts.
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
            s = seqs[gchrom[i]]
            lo, hi = max(0, tss[i] - 1000), min(len(s), tss[i] + 1000)
            w = s[lo:hi].tobytes().decode()
            if strand[i] == "-":
                w = _rc(w)
                t_idx = (tss[i] - lo)
                t_idx = len(w) - 1 - t_idx
            else:
                t_idx = tss[i] - lo
            tata[i] = w[t_idx - 30 : t_idx - 24] == MOTIFS["TATA"] if t_idx >= 30 else False
            act[i] = w.count(MOTIFS["activator"])
            rep[i] = w.count(MOTIFS["repressor"])
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
                           truth_path=root / "truth.tsv", bigwigs=bigwigs, mcool=mcools, params=params)


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
