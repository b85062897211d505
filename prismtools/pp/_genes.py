"""Reading gene annotations (GTF, GFF3, BED6, DataFrame) into a gene-centric AnnData."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyranges as pr
from anndata import AnnData

from ._validate import InputFileError

logger = logging.getLogger(__name__)

_ID_COLS = ("gene_id", "ID", "Ensembl_ID", "ENSID", "name", "Name", "symbol")
_NAME_COLS = ("gene_name", "Name", "symbol", "name", "gene")
_TYPE_COLS = ("gene_type", "gene_biotype", "biotype")


def _read_source(source) -> tuple[pd.DataFrame, str]:
    if isinstance(source, pr.PyRanges):
        return source.df, "<PyRanges>"
    if isinstance(source, pd.DataFrame):
        return source.copy(), "<DataFrame>"
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"Gene annotation not found: {str(path)!r}.")
    name = path.name.lower().removesuffix(".gz")
    if name.endswith((".gtf", ".gff", ".gff3")):
        _check_gff_lines(path, first_only=True)  # cheap: an empty file; the full scan only on a parse failure
    try:
        if name.endswith((".gtf",)):
            df = pr.read_gtf(str(path)).df
            df = df[df["Feature"].astype(str) == "gene"]
        elif name.endswith((".gff", ".gff3")):
            df = pr.read_gff3(str(path)).df
            df = df[df["Feature"].astype(str) == "gene"]
            if "ID" in df:
                df["ID"] = df["ID"].astype(str).str.removeprefix("gene:")
        elif name.endswith((".bed", ".bed6", ".txt", ".tsv")):
            df = _read_bed(path)
        else:
            raise ValueError(f"{str(path)!r}: unknown annotation format; use .gtf, .gff3 or .bed (optionally .gz).")
    except Exception as err:  # noqa: BLE001  (pyranges raises bare Exception / UnboundLocalError on bad input)
        if "unknown annotation" in str(err) or isinstance(err, InputFileError):
            raise
        if name.endswith((".gtf", ".gff", ".gff3")):
            _check_gff_lines(path)  # names the first line without 9 columns, if that is the cause
        raise InputFileError(
            f"Could not parse gene annotation {str(path)!r} ({type(err).__name__}: {err}). Check that it is a "
            "tab-separated GTF/GFF3 (9 columns) or BED (>= 6 columns, with strand) file."
        ) from err
    if df.empty:
        raise InputFileError(f"{str(path)!r} holds no gene records (for GTF/GFF3: no rows with feature 'gene').")
    return df, str(path)


def _open_text(path: Path):
    import gzip

    return gzip.open(path, "rt") if path.name.endswith(".gz") else open(path, "rt")


def _check_gff_lines(path: Path, *, first_only: bool = False) -> None:
    """Refuse, naming the file and line, a GTF/GFF3 that pyranges would fail on with a bare library error:
    no records at all, or a record line without the 9 tab-separated columns (``first_only``: stop after the first
    record)."""
    n = 0
    with _open_text(path) as fh:
        for i, line in enumerate(fh, start=1):
            if not line.strip() or line.startswith("#"):
                continue
            n += 1
            k = line.rstrip("\n\r").count("\t") + 1
            if k < 9:
                raise InputFileError(
                    f"{str(path)!r} line {i} has {k} columns, a GTF/GFF3 record needs 9 tab-separated columns "
                    f"(seqname source feature start end score strand frame attributes): {line.strip()[:80]!r}. "
                    "Fix or remove that line (spaces instead of tabs?)."
                )
            if first_only:
                return
    if n == 0:
        raise InputFileError(f"{str(path)!r} is empty: no records (only comments or blank lines). Check the path and "
                             "that the download completed.")


def _read_bed(path: Path) -> pd.DataFrame:
    with _open_text(path) as fh:
        first = fh.readline()
    if not first.strip():
        raise InputFileError(f"{str(path)!r} is empty (no BED records).")
    has_header = first.startswith(("#", "track", "browser")) or not first.split("\t")[1].strip().isdigit()
    if has_header and first.startswith("#"):
        df = pd.read_csv(path, sep="\t")
        df.columns = [str(c).lstrip("#") for c in df.columns]
        df = df.rename(columns={"chr": "Chromosome", "chrom": "Chromosome", "start": "Start", "end": "End", "strand": "Strand"})
        return pr.PyRanges(df).df
    gr = pr.read_bed(str(path))
    return gr.df


def _chrom_key(name: str) -> tuple:
    """Natural chromosome order: chr1 < chr2 < ... < chr22 < chrX < chrY < chrM < others (by name)."""
    bare = name.removeprefix("chr")
    if bare.isdigit():
        return (0, int(bare), "")
    return (1, {"X": 0, "Y": 1, "M": 2, "MT": 2}.get(bare, 3), bare)


def _genomic_order(obs: pd.DataFrame) -> np.ndarray:
    keys = obs["chrom"].map(lambda c: _chrom_key(str(c)))
    rank = {k: i for i, k in enumerate(sorted(set(keys)))}
    return np.lexsort((obs.index.to_numpy(dtype=str), obs["tss"].to_numpy(), keys.map(rank).to_numpy()))


def _pick(df: pd.DataFrame, cols: Sequence[str]) -> str | None:
    return next((c for c in cols if c in df.columns), None)


def read_genes(
    source: str | os.PathLike | pd.DataFrame | pr.PyRanges,
    *,
    gene_types: Sequence[str] | None = None,
    chromosomes: Sequence[str] | None = None,
) -> AnnData:
    """Read gene annotations into a gene-centric AnnData (genes as ``obs``, no samples yet).

    Parameters
    ----------
    source
        A GTF or GFF3 file (rows with feature ``gene``), a BED6 file (``name`` is the gene id; extra columns
        such as ``Ensembl_ID`` / ``gene_type`` with a ``#`` header are kept), a :class:`pandas.DataFrame` with
        BED-like columns (``chrom``/``Chromosome``, ``start``/``Start``, ``end``/``End``, ``strand``/``Strand``,
        an id column, optionally ``tss``), or a :class:`pyranges.PyRanges`. Read through pyranges.
    gene_types
        Keep only these gene types (e.g. ``["protein_coding"]``), from ``gene_type`` / ``gene_biotype``.
    chromosomes
        Keep only genes on these chromosomes.

    Returns
    -------
    AnnData with ``n_vars = 0`` and ``obs`` columns ``chrom``, ``start``, ``end`` (0-based, half-open),
    ``strand``, ``tss`` and ``gene_name`` (plus ``gene_type`` when known). ``tss`` is the 0-based coordinate of
    the first transcribed base: ``start`` on ``+``, ``end - 1`` on ``-``; a ``tss`` column in a DataFrame source is
    used as given. Duplicated gene ids keep the first record (counted and logged); genes whose strand is not
    ``+``/``-`` (e.g. ``.``) are dropped (counted and logged, with examples); a source with no strand column at all
    is an error (``InputFileError``): its genes are never assumed to be on ``+``. Empty files and GTF/GFF3 lines
    without 9 columns are errors naming the file (and line). Genes are returned in genomic order (natural chromosome order, then TSS), which
    keeps nearby genes in the same chunk when tracks are extracted.

    Examples
    --------
    A GTF file (rows with feature ``gene``; here three genes written on the spot). Coordinates become 0-based
    and the TSS follows the strand:

    >>> import prismtools as pt
    >>> def gtf_line(chrom, start, end, strand, gene_id, name, gene_type):  # 1-based, closed coordinates
    ...     attrs = f'gene_id "{gene_id}"; gene_name "{name}"; gene_type "{gene_type}";'
    ...     return "\\t".join([chrom, "src", "gene", str(start), str(end), ".", strand, ".", attrs]) + "\\n"
    >>> with open("genes.gtf", "w") as fh:
    ...     _ = fh.write(gtf_line("chr1", 1001, 4000, "+", "ENSG01", "ALPHA", "protein_coding"))
    ...     _ = fh.write(gtf_line("chr1", 6001, 9000, "-", "ENSG02", "BETA", "lncRNA"))
    ...     _ = fh.write(gtf_line("chr2", 2001, 5000, "+", "ENSG03", "GAMMA", "protein_coding"))
    >>> adata = pt.pp.read_genes("genes.gtf")
    >>> adata
    AnnData object with n_obs × n_vars = 3 × 0
        obs: 'chrom', 'start', 'end', 'strand', 'tss', 'gene_name', 'gene_type'
        uns: 'prism'
    >>> adata.obs[["chrom", "start", "end", "strand", "tss", "gene_name"]]
            chrom  start   end strand   tss gene_name
    gene_id
    ENSG01   chr1   1000  4000      +  1000     ALPHA
    ENSG02   chr1   6000  9000      -  8999      BETA
    ENSG03   chr2   2000  5000      +  2000     GAMMA
    >>> pt.pp.read_genes("genes.gtf", gene_types=["protein_coding"]).obs_names.tolist()
    ['ENSG01', 'ENSG03']

    A DataFrame with BED-like columns works too (a ``tss`` column, when present, is used as given):

    >>> import pandas as pd
    >>> genes = pd.DataFrame({"chrom": ["chr2", "chr1"], "start": [2000, 1000], "end": [5000, 4000],
    ...                       "strand": ["+", "-"], "gene_id": ["G2", "G1"]})
    >>> pt.pp.read_genes(genes).obs[["chrom", "tss", "gene_name"]]  # genomic order
            chrom   tss gene_name
    gene_id
    G1       chr1  3999        G1
    G2       chr2  2000        G2
    """
    df, label = _read_source(source)
    rename = {"chrom": "Chromosome", "chr": "Chromosome", "start": "Start", "end": "End", "strand": "Strand",
              "gene_start": "Start", "gene_end": "End"}
    df = df.rename(columns={k: v for k, v in rename.items() if k in df.columns and v not in df.columns})
    missing = [c for c in ("Chromosome", "Start", "End") if c not in df.columns]
    if missing:
        raise ValueError(f"{label}: missing coordinate columns {missing}; have {list(df.columns)[:15]}.")
    id_col = _pick(df, _ID_COLS)
    if id_col is None:
        if df.index.dtype == object:
            df = df.reset_index(names="gene_id")
            id_col = "gene_id"
        else:
            raise ValueError(f"{label}: no gene id column (looked for {list(_ID_COLS)}).")
    name_col = _pick(df, [c for c in _NAME_COLS if c != id_col]) or id_col
    type_col = _pick(df, _TYPE_COLS)
    if "Strand" not in df:
        raise InputFileError(
            f"{label}: no strand column, so TSSs cannot be placed (a minus-strand gene's TSS is at its end). Give a "
            "BED6 file (chrom start end name score strand) or a DataFrame with a 'strand' column of '+'/'-'."
        )
    strand = df["Strand"].astype(str)
    obs = pd.DataFrame(
        {
            "chrom": df["Chromosome"].astype(str).to_numpy(),
            "start": df["Start"].astype(np.int64).to_numpy(),
            "end": df["End"].astype(np.int64).to_numpy(),
            "strand": strand.to_numpy(),
            "gene_name": df[name_col].astype(str).to_numpy(),
        },
        index=pd.Index(df[id_col].astype(str).to_numpy(), name="gene_id"),
    )
    if type_col is not None:
        obs["gene_type"] = df[type_col].astype(str).to_numpy()
    if "tss" in df.columns:
        obs["tss"] = df["tss"].astype(np.int64).to_numpy()
    else:
        obs["tss"] = np.where(obs["strand"] == "-", obs["end"] - 1, obs["start"])
    bad = (obs["end"] <= obs["start"]) | (obs["start"] < 0)
    if bad.any():
        ex = obs.index[bad][0]
        raise ValueError(f"{label}: {int(bad.sum())} genes have end <= start or start < 0 (e.g. {ex!r}).")
    nostrand = ~obs["strand"].isin(["+", "-"])
    if nostrand.any():
        logger.warning("%s: dropping %d genes without a +/- strand (e.g. %s).", label, int(nostrand.sum()),
                       ", ".join(repr(g) for g in obs.index[nostrand][:5]))
        obs = obs.loc[~nostrand]
    if gene_types is not None:
        if "gene_type" not in obs:
            raise ValueError(f"{label}: gene_types= given but the source has no gene type column ({list(_TYPE_COLS)}).")
        keep = obs["gene_type"].isin(list(gene_types))
        logger.info("%s: keeping %d of %d genes of types %s.", label, int(keep.sum()), len(obs), list(gene_types))
        obs = obs.loc[keep]
    if chromosomes is not None:
        keep = obs["chrom"].isin([str(c) for c in chromosomes])
        logger.info("%s: keeping %d of %d genes on %s.", label, int(keep.sum()), len(obs), list(chromosomes))
        obs = obs.loc[keep]
    dup = obs.index.duplicated()
    if dup.any():
        logger.warning("%s: %d duplicated gene ids; keeping the first record of each.", label, int(dup.sum()))
        obs = obs.loc[~dup]
    if obs.empty:
        raise ValueError(f"{label}: no genes left after filtering (gene_types={gene_types}, chromosomes={chromosomes}).")
    obs = obs[["chrom", "start", "end", "strand", "tss", "gene_name"] + [c for c in obs.columns if c == "gene_type"]]
    obs = obs.iloc[_genomic_order(obs)]
    obs["strand"] = pd.Categorical(obs["strand"], categories=["+", "-"])
    adata = AnnData(obs=obs, var=pd.DataFrame(index=pd.Index([], name="sample")))
    adata.uns["prism"] = {"source_genes": label}
    logger.info("read %d genes from %s", adata.n_obs, label)
    return adata
