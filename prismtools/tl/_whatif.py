"""What-if questions for a fitted model: variant effects on sequence, and silencing a signal track over a region.

Both work through the public :class:`prismtools.tl.Prism` API: for every (variant or region, gene) pair whose
window is touched, a copy of the gene's inputs is edited in memory and ``model.predict`` is run on the reference
and the edited copies with identical batching, so an edit that changes no input changes no prediction exactly.
Only the affected genes' rows of lazy (dask/zarr) ``obsm`` arrays are read.

Coordinates follow the builders (``benchmarks/README.md``, conventions): a window starts at
:func:`prismtools.pp._window.window_starts`; in ``reference`` orientation column ``j`` is base ``start + j``; in
``transcript`` orientation minus-strand rows are reversed (and complemented), so column ``j`` is base
``start + width - 1 - j``. Track bin ``k`` covers columns ``[k * bin_size, (k + 1) * bin_size)`` in either case.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
from anndata import AnnData

from .._core import COVARIATES_KEY, SEQUENCE_KEY, TRACKS_KEY, get_window, resolve_tracks
from ..pp._chroms import chrom_map
from ..pp._sequence import encode
from ..pp._window import window_starts

logger = logging.getLogger(__name__)

_COMP = np.array([3, 2, 1, 0, 4], dtype=np.uint8)
_CHUNK = 2048  # (edit, gene) pairs predicted at a time


# --------------------------------------------------------------------------------------------- shared machinery


def _rows(arr, rows: np.ndarray) -> np.ndarray:
    """Materialise ``arr[rows]`` (rows may repeat), reading each distinct row of a lazy array once."""
    u, inv = np.unique(rows, return_inverse=True)
    block = arr[u]
    if hasattr(block, "compute"):
        block = block.compute()
    return np.asarray(block)[inv]


def _copy_rows(adata: AnnData, rows: np.ndarray, keys) -> AnnData:
    """A small in-memory AnnData holding ``rows`` of ``adata`` (repeats allowed) with the model's inputs."""
    obs = adata.obs.iloc[rows].copy()
    obs.index = [f"{n}#{k}" for k, n in enumerate(obs.index)]
    sub = AnnData(X=np.full((len(rows), adata.n_vars), np.nan, np.float32), obs=obs, var=adata.var.copy())
    sub.uns.update({k: v for k, v in adata.uns.items() if k == "prism"})
    for key in keys:
        if key in adata.obsm:
            sub.obsm[key] = _rows(adata.obsm[key], rows)
    return sub


def _predict_pairs(model, adata: AnnData, rows: np.ndarray, edit, *, batch_size, desc: str):
    """Predictions for the reference and the edited copies of ``rows``; ``edit(sub, lo)`` edits ``sub`` in place
    for pairs ``lo .. lo + sub.n_obs``."""
    ref = np.empty(len(rows), np.float64)
    alt = np.empty(len(rows), np.float64)
    keys = (SEQUENCE_KEY, TRACKS_KEY, COVARIATES_KEY)
    for lo in range(0, len(rows), _CHUNK):
        r = rows[lo : lo + _CHUNK]
        sub = _copy_rows(adata, r, keys)
        model.predict(sub, key_added="_whatif", batch_size=batch_size)
        ref[lo : lo + len(r)] = sub.obs["_whatif_pred"].to_numpy()
        edit(sub, lo)
        model.predict(sub, key_added="_whatif", batch_size=batch_size)
        alt[lo : lo + len(r)] = sub.obs["_whatif_pred"].to_numpy()
        logger.debug("%s: %d of %d pairs", desc, lo + len(r), len(rows))
    return ref, alt


def _gene_index(adata: AnnData):
    """Per chromosome (as in obs): gene rows sorted by window start, and the sorted starts."""
    starts = window_starts(adata)
    chroms = adata.obs["chrom"].astype(str).to_numpy()
    out = {}
    for c in np.unique(chroms):
        g = np.flatnonzero(chroms == c)
        g = g[np.argsort(starts[g], kind="stable")]
        out[c] = (g, starts[g])
    return out, starts


def _map_chroms(names, adata: AnnData, *, source: str) -> dict[str, str | None]:
    obs_chroms = sorted(set(adata.obs["chrom"].astype(str)))
    cmap = chrom_map(names, obs_chroms, source=source)
    if names and all(v is None for v in cmap.values()):
        raise ValueError(
            f"None of the chromosomes in {source} ({sorted(cmap)[:5]}) match the genes' chromosomes "
            f"({obs_chroms[:5]}). Is it on another assembly or naming scheme?"
        )
    return cmap


def _overlaps(index, chrom, lo: int, hi: int, width: int) -> np.ndarray:
    """Gene rows whose window ``[start, start + width)`` overlaps ``[lo, hi)``."""
    if chrom not in index:
        return np.empty(0, np.int64)
    g, s = index[chrom]
    return g[np.searchsorted(s, lo - width, side="right") : np.searchsorted(s, hi, side="left")]


def _strand_distance(pos: np.ndarray, tss: np.ndarray, minus: np.ndarray) -> np.ndarray:
    """Signed distance from the TSS along the transcript (positive = downstream)."""
    return np.where(minus, tss - pos, pos - tss)


def _finish(adata, df, params, key_added, inplace):
    if inplace:
        adata.uns[key_added] = df
        adata.uns[f"{key_added}_params"] = params
        return None
    return df


# ---------------------------------------------------------------------------------------------- variants


def _read_variants(variants) -> tuple[pd.DataFrame, str, dict]:
    """Variants as rows ``chrom, pos (1-based), id, ref, alt``; multi-allelic records split into one row per alt."""
    counts = {"multiallelic_split": 0, "symbolic_or_missing_alt": 0}
    if isinstance(variants, pd.DataFrame):
        missing = {"chrom", "pos", "ref", "alt"} - set(variants.columns)
        if missing:
            raise ValueError(f"variants DataFrame lacks columns {sorted(missing)}; need chrom, pos (1-based), ref, alt.")
        df = variants.copy()
        if "id" not in df:
            df["id"] = [f"{c}:{p}:{r}>{a}" for c, p, r, a in zip(df.chrom, df.pos, df.ref, df.alt)]
        df = df[["chrom", "pos", "id", "ref", "alt"]]
        return df.assign(chrom=df.chrom.astype(str), pos=df.pos.astype(np.int64), ref=df.ref.astype(str).str.upper(),
                         alt=df.alt.astype(str).str.upper(), id=df.id.astype(str)), "the variants DataFrame", counts
    path = Path(variants)
    if not path.exists():
        raise FileNotFoundError(f"VCF file not found: {str(path)!r}.")
    import pysam

    rows = []
    try:
        with pysam.VariantFile(str(path)) as vcf:
            for rec in vcf:
                alts = rec.alts or ()
                if len(alts) > 1:
                    counts["multiallelic_split"] += 1
                for a in alts:
                    if a.startswith("<") or a in ("*", "."):
                        counts["symbolic_or_missing_alt"] += 1
                        continue
                    rows.append((rec.chrom, int(rec.pos), rec.id or f"{rec.chrom}:{rec.pos}:{rec.ref}>{a}",
                                 rec.ref.upper(), a.upper()))
    except (OSError, ValueError) as err:
        raise ValueError(f"Could not read VCF {str(path)!r}: {err}. Is it a VCF (plain text or bgzip)?") from err
    df = pd.DataFrame(rows, columns=["chrom", "pos", "id", "ref", "alt"])
    return df, repr(str(path)), counts


def variant_effects(
    model,
    adata: AnnData,
    variants: str | os.PathLike | pd.DataFrame,
    *,
    key_added: str = "variant_effects",
    batch_size: int | None = None,
    inplace: bool = True,
) -> pd.DataFrame | None:
    """Predicted effect of each variant on the expression of every gene whose window contains it.

    For each (variant, gene) pair the stored base at the variant's column of ``obsm["sequence"]`` is checked
    against ``ref`` (complemented for minus-strand genes in ``transcript`` orientation); the gene is predicted
    with the reference and with the alternative base, and ``effect = alt_pred - ref_pred``.

    Parameters
    ----------
    model
        A fitted model that reads the sequence (e.g. :class:`prismtools.tl.Prism` with ``use_sequence=True``).
    adata
        The gene-centric AnnData the model predicts on (``obsm["sequence"]`` may be lazy; only the affected
        genes' rows are read).
    variants
        A VCF (plain text or bgzip, no index needed; read with pysam) or a DataFrame with ``chrom``, ``pos``
        (1-based, as in VCF), ``ref``, ``alt`` and optionally ``id``. Chromosome names are matched with or without
        the ``chr`` prefix. Multi-allelic records are split into one row per alternative allele (counted).
        Only SNVs are scored: indels, ``ref == alt``, non-ACGT alleles and symbolic alleles are refused and
        counted; so are variants whose ``ref`` does not match the stored genome (logged with examples), variants
        on chromosomes without genes, and variants outside every window.
    key_added
        Key in ``adata.uns``.
    batch_size
        Genes per inference batch (default: the model's).
    inplace
        Write into ``adata`` and return ``None``; ``False`` returns the table instead.

    Returns
    -------
    With ``inplace=True`` nothing; writes ``adata.uns[key_added]`` (DataFrame, one row per variant and gene:
    ``variant_id, chrom, pos, ref, alt, gene, strand, tss, distance_to_tss`` (bp along the transcript, positive
    downstream), ``ref_pred, alt_pred, effect``) and ``adata.uns[f"{key_added}_params"]`` (the counts of
    variants read, scored, and refused by reason). With ``inplace=False`` the DataFrame.

    Examples
    --------
    A model that reads the sequence, and one SNV at a gene's TSS (its ``ref`` read from the stored sequence):

    >>> import pandas as pd
    >>> import prismtools as pt
    >>> adata = pt.datasets.toy(n_genes=32, width=64)
    >>> model = pt.tl.Prism(adata, sample="toy", d_model=8, n_layers=1)
    >>> model.fit(max_steps=3, batch_size=8, warmup_steps=1, progress=False)
    >>> g = adata.obs.iloc[2]
    >>> ref = "ACGT"[adata.obsm["sequence"][2, 32]]
    >>> snv = pd.DataFrame({"chrom": [g.chrom], "pos": [int(g.tss) + 1], "ref": [ref],
    ...                     "alt": ["A" if ref != "A" else "C"], "id": ["rs1"]})
    >>> pt.tl.variant_effects(model, adata, snv)
    >>> adata.uns["variant_effects"][["variant_id", "gene", "distance_to_tss"]]
      variant_id       gene  distance_to_tss
    0        rs1  GENE00002                0
    """
    reg = getattr(model, "registry", {})
    if not reg.get("use_sequence", False):
        raise ValueError(
            "This model does not read the DNA sequence (a signals-only model), so a variant cannot change its "
            "prediction. Fit a model with use_sequence=True to score variants."
        )
    if SEQUENCE_KEY not in adata.obsm:
        raise ValueError("adata.obsm['sequence'] is missing; add it with pt.pp.add_sequence.")
    df, source, counts = _read_variants(variants)
    n_read = len(df)
    win = get_window(adata)
    width = int(win["width"])
    transcript = win.get("orientation") == "transcript"
    # refuse what cannot be scored as an SNV
    ok_base = df.ref.str.fullmatch("[ACGT]") & df.alt.str.fullmatch("[ACGT]")
    indel = (df.ref.str.len() != 1) | (df.alt.str.len() != 1)
    same = df.ref == df.alt
    counts["indel_refused"] = int(indel.sum())
    counts["ref_equals_alt_refused"] = int((same & ~indel).sum())
    counts["non_acgt_refused"] = int((~ok_base & ~indel & ~same).sum())
    df = df[ok_base & ~indel & ~same].reset_index(drop=True)
    if counts["indel_refused"]:
        logger.warning("%s: %d indels refused (only SNVs are scored).", source, counts["indel_refused"])
    cmap = _map_chroms(list(df.chrom.unique()), adata, source=source) if len(df) else {}
    gchrom = df.chrom.map(cmap)
    counts["unknown_chromosome"] = int(gchrom.isna().sum())
    if counts["unknown_chromosome"]:
        logger.warning("%s: %d variants on chromosomes without genes (e.g. %s); skipped.", source,
                       counts["unknown_chromosome"], sorted(set(df.chrom[gchrom.isna()]))[:5])
    index, starts = _gene_index(adata)
    minus = adata.obs["strand"].astype(str).to_numpy() == "-"
    pv, pg = [], []
    for v, (c, pos) in enumerate(zip(gchrom, df.pos.to_numpy())):
        if c is None or (isinstance(c, float) and np.isnan(c)):
            continue
        g = _overlaps(index, c, pos - 1, pos, width)
        pv.extend([v] * len(g))
        pg.extend(g.tolist())
    pv, pg = np.asarray(pv, np.int64), np.asarray(pg, np.int64)
    counts["outside_windows"] = int(len(df) - counts["unknown_chromosome"] - len(np.unique(pv)))
    if counts["outside_windows"]:
        logger.info("%s: %d variants lie outside every gene's window.", source, counts["outside_windows"])
    p0 = df.pos.to_numpy()[pv] - 1
    flip = minus[pg] & transcript
    col = np.where(flip, starts[pg] + width - 1 - p0, p0 - starts[pg])
    ref_code = encode("".join(df.ref.to_numpy()[pv])) if len(pv) else np.empty(0, np.uint8)
    alt_code = encode("".join(df.alt.to_numpy()[pv])) if len(pv) else np.empty(0, np.uint8)
    ref_code = np.where(flip, _COMP[ref_code], ref_code)
    alt_code = np.where(flip, _COMP[alt_code], alt_code)
    stored = _rows(adata.obsm[SEQUENCE_KEY], pg)[np.arange(len(pg)), col] if len(pg) else np.empty(0, np.uint8)
    match = stored == ref_code
    bad = np.unique(pv[~match])
    counts["ref_mismatch_skipped"] = int(len(bad))
    if len(bad):
        ex = df.iloc[bad[:5]]
        logger.warning("%s: %d variants whose ref does not match the stored genome were skipped (e.g. %s).", source,
                       len(bad), ", ".join(f"{r.chrom}:{r.pos} ref={r.ref}" for r in ex.itertuples()))
    pv, pg, col, alt_code = pv[match], pg[match], col[match], alt_code[match]

    def edit(sub, lo):
        k = np.arange(sub.n_obs)
        sub.obsm[SEQUENCE_KEY][k, col[lo : lo + sub.n_obs]] = alt_code[lo : lo + sub.n_obs]

    ref, alt = _predict_pairs(model, adata, pg, edit, batch_size=batch_size, desc="variant_effects")
    tss = adata.obs["tss"].to_numpy(np.int64)[pg]
    sel = df.iloc[pv]
    out = pd.DataFrame({
        "variant_id": sel.id.to_numpy(), "chrom": sel.chrom.to_numpy(), "pos": sel.pos.to_numpy(),
        "ref": sel.ref.to_numpy(), "alt": sel.alt.to_numpy(), "gene": adata.obs_names.to_numpy()[pg],
        "strand": np.where(minus[pg], "-", "+"), "tss": tss,
        "distance_to_tss": _strand_distance(sel.pos.to_numpy() - 1, tss, minus[pg]),
        "ref_pred": ref, "alt_pred": alt, "effect": alt - ref,
    })
    counts.update(n_read=n_read, n_scored_variants=int(len(np.unique(pv))), n_pairs=len(out))
    logger.info("variant_effects: %d variant-gene pairs from %d variants (%s).", len(out), n_read, counts)
    params = {"source": source, "sample": getattr(model, "sample", ""), **counts}
    return _finish(adata, out, params, key_added, inplace)


# ----------------------------------------------------------------------------------------- perturbations


def _read_regions(region) -> pd.DataFrame:
    if isinstance(region, pd.DataFrame):
        missing = {"chrom", "start", "end"} - set(region.columns)
        if missing:
            raise ValueError(f"region DataFrame lacks columns {sorted(missing)}; need chrom, start, end (0-based, BED).")
        df = region.copy()
    else:
        path = Path(region)
        if not path.exists():
            raise FileNotFoundError(f"BED file not found: {str(path)!r}.")
        import pyranges as pr

        try:
            df = pr.read_bed(str(path), as_df=True).rename(columns={"Chromosome": "chrom", "Start": "start",
                                                                     "End": "end", "Name": "name"})
        except Exception as err:  # noqa: BLE001 - any parse failure becomes a clear message
            raise ValueError(f"Could not read BED {str(path)!r}: {err}.") from err
    if "name" not in df:
        df["name"] = [f"{c}:{s}-{e}" for c, s, e in zip(df.chrom, df.start, df.end)]
    df = df.assign(chrom=df.chrom.astype(str), start=df.start.astype(np.int64), end=df.end.astype(np.int64),
                   name=df.name.astype(str))
    bad = df.end <= df.start
    if bad.any():
        raise ValueError(f"{int(bad.sum())} regions have end <= start (e.g. {df[bad].iloc[0].to_dict()}).")
    return df[["chrom", "start", "end", "name"]].reset_index(drop=True)


def perturb_tracks(
    model,
    adata: AnnData,
    *,
    track: str | list[str],
    region: str | os.PathLike | pd.DataFrame | None = None,
    bp: tuple[int, int] | None = None,
    value: str | float = "background",
    key_added: str = "perturbation",
    batch_size: int | None = None,
    inplace: bool = True,
) -> pd.DataFrame | None:
    """Predicted change in expression when a signal track is set to a value over a region (in-silico CRISPRi).

    Every track bin that overlaps the region (even partly) is replaced, for every gene whose window overlaps it.

    Parameters
    ----------
    model
        A fitted model that reads ``track`` (e.g. :class:`prismtools.tl.Prism`).
    adata
        The gene-centric AnnData the model predicts on (lazy ``obsm["tracks"]``: only affected rows are read).
    track
        Name(s) of input track(s) of the model (in :attr:`prismtools.tl.Prism.tracks`) to perturb.
    region
        Intervals to perturb: a BED file (read with pyranges; 0-based, half-open; the name column, if any, names
        the region) or a DataFrame with ``chrom``, ``start``, ``end`` and optionally ``name``.
    bp
        Instead of ``region``: ``(start, end)`` offsets from each gene's TSS along its transcript, half-open
        (``(-500, 500)`` = 500 bp upstream to 499 bp downstream), applied to every gene.
    value
        ``"background"``: the model's per-position training mean of the track (:meth:`Prism.track_means`, as
        ``predict(remove_tracks=..., removal="mean")``); ``"zero"``; or a number (in the track's stored units).
    key_added
        Key in ``adata.uns``.
    batch_size
        Genes per inference batch (default: the model's).
    inplace
        Write into ``adata`` and return ``None``; ``False`` returns the table instead.

    Returns
    -------
    With ``inplace=True`` nothing; writes ``adata.uns[key_added]`` (DataFrame, one row per region and gene:
    ``region, chrom, start, end, gene, strand, tss, distance_to_tss`` (region centre, bp along the transcript),
    ``n_bins, ref_pred, perturbed_pred, effect``) and ``adata.uns[f"{key_added}_params"]`` (track, value,
    counts of regions read, scored and outside every window). With ``inplace=False`` the DataFrame.

    Examples
    --------
    Silence H3K27ac over the 16 bp around every gene's TSS:

    >>> import prismtools as pt
    >>> adata = pt.datasets.toy(n_genes=32, width=64)
    >>> model = pt.tl.Prism(adata, sample="toy", d_model=8, n_layers=1)
    >>> model.fit(max_steps=3, batch_size=8, warmup_steps=1, progress=False)
    >>> pt.tl.perturb_tracks(model, adata, track="H3K27ac", bp=(-8, 8), value="zero")
    >>> res = adata.uns["perturbation"]
    >>> res.shape[0], list(res.columns[-3:])
    (32, ['ref_pred', 'perturbed_pred', 'effect'])
    """
    if (region is None) == (bp is None):
        raise ValueError("Pass exactly one of region= (BED/DataFrame of intervals) or bp= (offsets from the TSS).")
    names = list(getattr(model, "tracks", []))
    wanted = [track] if isinstance(track, str) else list(track)
    unknown = [t for t in wanted if t not in names]
    if unknown or not getattr(model, "registry", {}).get("use_tracks", bool(names)):
        raise ValueError(f"Track(s) {unknown or wanted} are not inputs of this model; it reads {names or 'no tracks'}.")
    if TRACKS_KEY not in adata.obsm:
        raise ValueError("adata.obsm['tracks'] is missing.")
    sample = getattr(model, "sample", None)
    tpos = [resolve_tracks(adata, [t], sample=sample)[0] for t in wanted]  # positions in obsm["tracks"]
    mpos = [names.index(t) for t in wanted]  # positions in the model's track order
    win = get_window(adata)
    width, bs = int(win["width"]), int(win["bin_size"])
    n_bins = width // bs
    if isinstance(value, str):
        if value == "background":
            try:
                means = model.track_means()
            except ValueError:
                means = model.track_means(adata)
            fill = np.asarray(means, np.float32)[mpos]
        elif value == "zero":
            fill = np.zeros((len(wanted), n_bins), np.float32)
        else:
            raise ValueError(f"value must be 'background', 'zero' or a number, got {value!r}.")
    else:
        fill = np.full((len(wanted), n_bins), float(value), np.float32)
    transcript = win.get("orientation") == "transcript"
    minus = adata.obs["strand"].astype(str).to_numpy() == "-"
    tss_all = adata.obs["tss"].to_numpy(np.int64)
    index, starts = _gene_index(adata)
    counts = {}
    if bp is not None:
        lo, hi = int(bp[0]), int(bp[1])
        if hi <= lo:
            raise ValueError(f"bp=({lo}, {hi}): end must be greater than start.")
        pg = np.arange(adata.n_obs)
        s = np.where(minus, tss_all - hi + 1, tss_all + lo)
        e = np.where(minus, tss_all - lo + 1, tss_all + hi)
        regions = pd.DataFrame({"chrom": adata.obs["chrom"].astype(str).to_numpy(), "start": s, "end": e,
                                "name": f"TSS{lo:+d}..{hi:+d}"})
        pr_ = pg.copy()
        counts["n_regions"] = 1
    else:
        regions = _read_regions(region)
        counts["n_regions"] = len(regions)
        cmap = _map_chroms(list(regions.chrom.unique()), adata, source="the regions")
        pr_, pg = [], []
        for k, (c, s0, e0) in enumerate(zip(regions.chrom.map(cmap), regions.start, regions.end)):
            if c is None or (isinstance(c, float) and np.isnan(c)):
                continue
            g = _overlaps(index, c, int(s0), int(e0), width)
            pr_.extend([k] * len(g))
            pg.extend(g.tolist())
        pr_, pg = np.asarray(pr_, np.int64), np.asarray(pg, np.int64)
        counts["outside_windows"] = int(len(regions) - len(np.unique(pr_)))
        if counts["outside_windows"]:
            logger.info("perturb_tracks: %d of %d regions overlap no gene's window.", counts["outside_windows"],
                        len(regions))
    rs, re_ = regions.start.to_numpy()[pr_], regions.end.to_numpy()[pr_]
    ws = starts[pg]
    c0, c1 = np.maximum(rs, ws) - ws, np.minimum(re_, ws + width) - ws  # reference columns [c0, c1)
    flip = minus[pg] & transcript
    c0, c1 = np.where(flip, width - c1, c0), np.where(flip, width - c0, c1)
    b0, b1 = c0 // bs, -(-c1 // bs)
    keep = b1 > b0
    pr_, pg, b0, b1, rs, re_ = pr_[keep], pg[keep], b0[keep], b1[keep], rs[keep], re_[keep]

    def edit(sub, lo):
        arr = sub.obsm[TRACKS_KEY]
        for k in range(sub.n_obs):
            a, b = b0[lo + k], b1[lo + k]
            arr[k, tpos, a:b] = fill[:, a:b]

    ref, alt = _predict_pairs(model, adata, pg, edit, batch_size=batch_size, desc="perturb_tracks")
    tss = tss_all[pg]
    sel = regions.iloc[pr_]
    out = pd.DataFrame({
        "region": sel.name.to_numpy(), "chrom": sel.chrom.to_numpy(), "start": rs, "end": re_,
        "gene": adata.obs_names.to_numpy()[pg], "strand": np.where(minus[pg], "-", "+"), "tss": tss,
        "distance_to_tss": _strand_distance((rs + re_) // 2, tss, minus[pg]), "n_bins": b1 - b0,
        "ref_pred": ref, "perturbed_pred": alt, "effect": alt - ref,
    })
    counts["n_pairs"] = len(out)
    params = {"track": wanted, "value": value if isinstance(value, str) else float(value),
              "sample": sample or "", **counts}
    logger.info("perturb_tracks: %d region-gene pairs (%s).", len(out), counts)
    return _finish(adata, out, params, key_added, inplace)
