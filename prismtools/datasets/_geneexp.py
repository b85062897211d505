"""``pt.datasets.read_geneexp``: the public Seq2Exp "GeneExp" benchmark download as a prismtools dataset."""

from __future__ import annotations

import logging
import os
import re
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pandas as pd
from anndata import AnnData

logger = logging.getLogger(__name__)

#: directory of the per-gene tables inside the download
TABLES = "promo_enhan_inter"
EXPRESSION_CSV = f"{TABLES}/GM12878_K562_18377_gene_expr_fromXpresso.csv"
FOLD_CSV = f"{TABLES}/leave_chrom_out_crossvalidation_split_18377genes.csv"
FASTA = "hg38/hg38.ml.fa"
HIC_DIR = f"{TABLES}/HiC/{{cell}}"
#: CAGE label column of a cell line; the available cells are read off these columns
CAGE_COLUMN = "{cell}_CAGE_128*3_sum"
_CAGE_RE = re.compile(r"^(.+)_CAGE_128\*3_sum$")
MRNA_FEATURES = [
    "UTR5LEN_log10zscore",
    "CDSLEN_log10zscore",
    "INTRONLEN_log10zscore",
    "UTR3LEN_log10zscore",
    "UTR5GC",
    "CDSGC",
    "UTR3GC",
    "ORFEXONDENSITY",
]
H3K27AC_RPM = "H3K27ac.RPM.TSS1Kb"
DHS_RPM = "DHS.RPM.TSS1Kb"
PROMOTER_ACTIVITY = "promoter_activity"
COVARIATES = [*MRNA_FEATURES, PROMOTER_ACTIVITY]
#: candidate gene-id columns of the ABC GeneList (Seq2Exp's has the Ensembl id in ``symbol``); the one matching
#: most expression-table ids is used
_GENELIST_ID_COLUMNS = ("symbol", "Ensembl_ID", "name")
#: candidate gene-id columns of the expression table ("index ENSID")
_EXPRESSION_ID_COLUMNS = ("ENSID", "Unnamed: 0", "Gene stable ID")

#: file names of the cells shipped in the download (ENCODE / 4DN accessions)
CELL_FILES = {
    "K562": {
        "gene_list": f"{TABLES}/K562_DNase_ENCFF257HEE_hic_4DNFITUOMFUQ_1MB_ABC_nominated/"
        "DNase_ENCFF257HEE_Neighborhoods/GeneList.txt",
        "h3k27ac": f"{TABLES}/H3K27ac/K562/ENCFF465GBD.bigWig",
        "dnase": f"{TABLES}/DNase-seq/K562/ENCFF414OGC.bigWig",
    },
    "GM12878": {
        "gene_list": f"{TABLES}/GM12878_DNase_ENCFF020WZB_hic_4DNFI1UEG1HD_1MB_ABC_nominated/"
        "DNase_ENCFF020WZB_Neighborhoods/GeneList.txt",
        "h3k27ac": f"{TABLES}/H3K27ac/GM12878/ENCFF798KYP.bigWig",
        "dnase": f"{TABLES}/DNase-seq/GM12878/ENCFF960FMM.bigWig",
    },
}
#: where to look for a cell that is not in CELL_FILES (a single match is used)
_CELL_GLOBS = {
    "gene_list": f"{TABLES}/{{cell}}_*ABC_nominated/*Neighborhoods/GeneList.txt",
    "h3k27ac": f"{TABLES}/H3K27ac/{{cell}}/*.[bB][iI][gG][wW][iI][gG]",
    "dnase": f"{TABLES}/DNase-seq/{{cell}}/*.[bB][iI][gG][wW][iI][gG]",
}
_CONTENTS = {
    "expression": "the CAGE labels and mRNA features: one row per gene (column 'ENSID'), columns "
    "'<cell>_CAGE_128*3_sum' and " + ", ".join(MRNA_FEATURES),
    "gene_list": f"the ABC gene table (tab-separated): gene id in 'symbol', 'chr', 'tss', '{H3K27AC_RPM}', "
    f"'{DHS_RPM}'",
    "fold": "the EPInformer fold table: columns 'ENSID', 'chrom', 'fold_1' .. 'fold_12' (train/valid/test)",
    "fasta": "the hg38 genome (FASTA)",
    "h3k27ac": "the ENCODE H3K27ac signal of the cell (bigWig)",
    "dnase": "the ENCODE DNase-seq signal of the cell (bigWig)",
    "hic": "the 4DN Hi-C features: hic_feat_chr{1..22,X}.h5, key '{chrom}_{tss}' -> float[200000]",
}


def _expected(path: Path, what: str) -> FileNotFoundError:
    return FileNotFoundError(f"GeneExp layout: {str(path)!r} not found. It should hold {_CONTENTS[what]}.")


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        raise _expected(path, what)
    return path


def _cell_file(root: Path, cell: str, what: str) -> Path:
    """The file of ``cell`` for ``what``: the known name, else a unique match of the layout's pattern."""
    known = CELL_FILES.get(cell, {}).get(what)
    if known is not None and (root / known).exists():
        return root / known
    hits = sorted(root.glob(_CELL_GLOBS[what].format(cell=cell)))
    if len(hits) == 1:
        if known is not None:
            logger.info("GeneExp: %s not found; using %s instead.", root / known, hits[0])
        return hits[0]
    expected = root / known if known is not None else root / _CELL_GLOBS[what].format(cell=cell)
    err = _expected(expected, what)
    if len(hits) > 1:
        err = FileNotFoundError(f"{err} Several candidates exist ({[str(h) for h in hits[:4]]}); keep one.")
    raise err


def available_cells(expression: pd.DataFrame) -> list[str]:
    """Cell lines with a ``<cell>_CAGE_128*3_sum`` column in the expression table."""
    return sorted(m.group(1) for c in expression.columns if (m := _CAGE_RE.match(str(c))))


def _id_index(df: pd.DataFrame, candidates, label: str) -> pd.DataFrame:
    col = next((c for c in candidates if c in df.columns), None)
    if col is None:
        raise ValueError(f"{label}: no gene id column (looked for {list(candidates)}); "
                         f"columns are {list(df.columns)[:12]}.")
    return df.set_index(df[col].astype(str).str.replace(r"\.\d+$", "", regex=True).rename("gene_id"))


def _dedupe(df: pd.DataFrame, label: str) -> pd.DataFrame:
    dup = df.index.duplicated()
    if dup.any():
        logger.warning("%s: %d duplicated gene ids; keeping the first row of each.", label, int(dup.sum()))
        df = df.loc[~dup]
    return df


def _read_gene_list(path: Path, ids: pd.Index) -> pd.DataFrame:
    """The ABC GeneList indexed by the gene-id column that matches most of ``ids``."""
    gl = pd.read_csv(path, sep="\t")
    missing = [c for c in ("chr", "tss", H3K27AC_RPM, DHS_RPM) if c not in gl.columns]
    if missing:
        raise ValueError(f"{str(path)!r}: missing columns {missing} ({_CONTENTS['gene_list']}); "
                         f"columns are {list(gl.columns)[:15]}.")
    best, n_best = None, -1
    for col in _GENELIST_ID_COLUMNS:
        if col in gl.columns:
            n = int(pd.Index(gl[col].astype(str).str.replace(r"\.\d+$", "", regex=True)).isin(ids).sum())
            if n > n_best:
                best, n_best = col, n
    if best is None:
        raise ValueError(f"{str(path)!r}: no gene id column (looked for {list(_GENELIST_ID_COLUMNS)}).")
    logger.info("%s: gene ids from column %r (%d match the expression table).", path, best, n_best)
    return _dedupe(_id_index(gl, [best], str(path)), str(path))


def _resolve_hic(root: Path, cell: str, hic) -> tuple[str, str]:
    """``(kind, source)`` with kind in ``profiles`` (HDF5 directory or pattern), ``hic`` (Juicer) or ``cool``."""
    from ..pp._hic_features import import_hicstraw

    if hic is None:
        d = root / HIC_DIR.format(cell=cell)
        if not d.is_dir():
            raise _expected(d, "hic")
        return "profiles", str(d)
    s = str(hic)
    path = s.partition("::")[0]
    low = path.lower()
    if "{chrom}" in s or Path(s).is_dir():
        return "profiles", s
    if not Path(path).exists():
        raise FileNotFoundError(f"Hi-C file not found: {path!r} (a .hic, .mcool or .cool file, or a directory of "
                                "hic_feat_{chrom}.h5 profiles).")
    if low.endswith(".hic"):
        import_hicstraw()
        return "hic", s
    if low.endswith((".mcool", ".cool")):
        return "cool", s
    raise ValueError(f"hic={s!r}: use a .hic file (hicstraw), a .mcool/.cool file (cooler), or a directory / "
                     "pattern with {chrom} of precomputed hic_feat_{chrom}.h5 profiles.")


def read_geneexp(
    root: str | os.PathLike,
    *,
    cell: str,
    window: int = 2000,
    fold: int | str = 11,
    store: str | os.PathLike | None = None,
    hic: str | os.PathLike | None = None,
    overwrite: bool = False,
) -> AnnData:
    """Read the public Seq2Exp "GeneExp" benchmark (the data Prism is evaluated on) into a prismtools dataset.

    The download (``xingyusu/GeneExp``) holds, relative to ``root``::

        hg38/hg38.ml.fa                                               hg38 FASTA
        promo_enhan_inter/GM12878_K562_18377_gene_expr_fromXpresso.csv
            one row per gene; gene id column 'ENSID'; '<cell>_CAGE_128*3_sum' (CAGE label per cell line) and the 8
            mRNA features UTR5LEN_log10zscore, CDSLEN_log10zscore, INTRONLEN_log10zscore, UTR3LEN_log10zscore,
            UTR5GC, CDSGC, UTR3GC, ORFEXONDENSITY; 'Gene name' (optional)
        promo_enhan_inter/leave_chrom_out_crossvalidation_split_18377genes.csv
            EPInformer fold table: 'ENSID', 'chrom', 'fold_1' .. 'fold_12' (values train/valid/test)
        promo_enhan_inter/<cell>_DNase_..._ABC_nominated/DNase_..._Neighborhoods/GeneList.txt
            ABC gene table (tab-separated): gene id, 'chr', 'tss', 'H3K27ac.RPM.TSS1Kb', 'DHS.RPM.TSS1Kb'
            (and usually 'start', 'end', 'strand', 'name')
        promo_enhan_inter/H3K27ac/<cell>/*.bigWig, promo_enhan_inter/DNase-seq/<cell>/*.bigWig
        promo_enhan_inter/HiC/<cell>/hic_feat_chr{1..22,X}.h5
            key f"{chrom}_{tss}" -> float[200000]: raw per-base virtual-4C over tss +/- 100 kb

    Assumptions about the tables (checked; a mismatch is a clear error):

    - The expression table's gene id is the column ``ENSID`` (else an unnamed first column, else
      ``Gene stable ID``); Ensembl version suffixes are ignored everywhere.
    - The GeneList's gene id is whichever of ``symbol`` (Seq2Exp's loader indexes it by ``symbol``, which holds
      the Ensembl id), ``Ensembl_ID`` or ``name`` matches most expression ids. Its ``tss`` is used as given (ABC
      convention: ``start`` on ``+``, ``end`` on ``-``), exactly as the Hi-C keys and the Seq2Exp windows use it.
      ``start``/``end``/``strand`` are used when present (else ``start = tss``, ``end = tss + 1``, strand ``+``,
      logged). Duplicated ids keep their first row (counted and logged).
    - The fold table's gene id is ``ENSID``; fold ``11`` is the Prism split (test chrX and chr22, valid chr3).

    Known file names are used for K562 and GM12878; for another cell with a ``<cell>_CAGE_128*3_sum`` column the
    layout's patterns must match exactly one file each.

    Parameters
    ----------
    root
        Root directory of the download.
    cell
        Cell line: one of the cells with a ``<cell>_CAGE_128*3_sum`` column (``K562``, ``GM12878``).
    window
        Window width ``L`` in bp around the TSS, ``[tss - L/2, tss + L/2)``, per base (bin size 1).
    fold
        EPInformer fold (``11`` -> column ``fold_11``) or a fold column name (e.g. ``"fold_enformer"``).
    store
        Build into this zarr store (streamed chunk by chunk, so the arrays need not fit in memory) and return it
        opened lazily. The build goes to a temporary sibling that is renamed into place only when complete.
    hic
        Hi-C source instead of the download's precomputed features: a Juicer ``.hic`` (read with ``hicstraw``,
        VC-normalised observed at 5 kb; optional dependency ``prismtools[hic]``), a ``.mcool`` (read at 5 kb) or
        ``.cool`` / cooler URI (balanced, via :func:`prismtools.pp.add_hic`), or a directory / ``{chrom}`` pattern
        of ``hic_feat_{chrom}.h5`` files.
    overwrite
        Replace an existing ``store``.

    Returns
    -------
    AnnData (genes x 1 sample, the cell), in memory or (with ``store``) read back lazily from the store:

    - ``obs`` index: Ensembl gene id; ``chrom``, ``start``, ``end``, ``strand``, ``tss`` (from the GeneList),
      ``gene_name`` (expression table's ``Gene name``, else GeneList ``name``), ``split`` (``train``/``valid``/``test``
      from the fold column, :func:`prismtools.pp.split_folds`).
    - ``X[:, cell]``: ``log10(CAGE + 1)`` of ``<cell>_CAGE_128*3_sum`` (float32); ``layers["raw"]``: the CAGE value;
      ``var``: ``n_measured``, ``transform`` (``log10p1``).
    - ``obsm["sequence"]``: uint8 codes A,C,G,T,N = 0..4 of the hg38 window (reference strand, no flip for minus
      strand genes; ``N`` past chromosome ends), TSS at index ``L // 2``.
    - ``obsm["tracks"]``: float32 ``(genes, 3, L)``, tracks ``H3K27ac`` (foreground; raw bigWig values, NaN -> 0),
      ``DNase`` (background; same) and ``HiC`` (background; the centre ``L`` bp of the stored 200-kb profile,
      ``log10(x + 1)``, NaN -> 0); ``uns["prism"]["tracks"]`` is the track table.
    - ``obsm["covariates"]``: float32 ``(genes, 9)``: the 8 mRNA features and ``promoter_activity =
      sqrt(H3K27ac.RPM.TSS1Kb x DHS.RPM.TSS1Kb)``; names in ``uns["prism"]["covariates"]``.
    - ``uns["prism"]["window"]`` (``width = L``, ``bin_size = 1``, ``assembly = "hg38"``, ``orientation =
      "reference"``), ``uns["prism"]["dataset"] = "geneexp"``, ``uns["prism"]["geneexp"]`` (``root``, ``cell``,
      ``fold``, ``hic`` source, ``n_genes_expression_table``, ``n_genes_dropped``), and the builders' provenance
      ``uns["prism"]["source_genes"]`` and ``uns["prism"]["sequence_source"]`` (the FASTA).

    Genes are those of the expression table (18,377); genes missing from the GeneList (or without a ``tss``) are
    dropped, counted and logged.

    Raises
    ------
    FileNotFoundError
        A file of the layout is missing (the message names the expected path and what it should hold).
    ValueError
        ``cell`` is not in the expression table (the available cells are listed), or the genes do not all appear
        in the fold table (with counts), or a table lacks a required column.
    ImportError
        ``hic`` is a ``.hic`` file and ``hic-straw`` is not installed.

    Examples
    --------
    The benchmark is a download (see above), so this example does not run here:

    >>> import prismtools as pt
    >>> adata = pt.datasets.read_geneexp("GeneExp", cell="K562", store="k562_geneexp.zarr")  # doctest: +SKIP
    >>> adata.var_names.tolist()  # doctest: +SKIP
    ['K562']
    """
    from .. import io, pp
    from ..pp._hic_features import add_hic_profiles, add_juicer_hic, check_profile_files, profile_file_pattern

    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"GeneExp root directory not found: {str(root)!r} (the unpacked xingyusu/GeneExp "
                                "download, holding hg38/ and promo_enhan_inter/).")
    cell = str(cell)
    expr_path = _require(root / EXPRESSION_CSV, "expression")
    expr = pd.read_csv(expr_path)
    cells = available_cells(expr)
    if cell not in cells:
        raise ValueError(f"Cell {cell!r} is not in {str(expr_path)!r}; available cells (columns "
                         f"'<cell>_CAGE_128*3_sum'): {cells}.")
    cage = CAGE_COLUMN.format(cell=cell)
    missing = [c for c in MRNA_FEATURES if c not in expr.columns]
    if missing:
        raise ValueError(f"{str(expr_path)!r}: missing mRNA feature columns {missing}.")
    expr = _dedupe(_id_index(expr, _EXPRESSION_ID_COLUMNS, str(expr_path)), str(expr_path))
    # every input is located before anything is built
    gl_path = _cell_file(root, cell, "gene_list")
    fold_path = _require(root / FOLD_CSV, "fold")
    fasta = _require(root / FASTA, "fasta")
    h3k27ac = _cell_file(root, cell, "h3k27ac")
    dnase = _cell_file(root, cell, "dnase")
    hic_kind, hic_source = _resolve_hic(root, cell, hic)
    if store is not None and Path(store).exists() and not overwrite:
        raise FileExistsError(f"{str(store)!r} exists; open it with pt.io.read() or pass overwrite=True.")

    # genes: the expression table's, located by the GeneList
    gl = _read_gene_list(gl_path, expr.index)
    in_gl = expr.index.isin(gl.index)
    n_expr = len(expr)
    if not in_gl.any():
        raise ValueError(f"None of the {n_expr} genes of {str(expr_path)!r} (e.g. {list(expr.index[:3])}) is in "
                         f"{str(gl_path)!r} (e.g. {list(gl.index[:3])}).")
    if (~in_gl).any():
        logger.warning("GeneExp %s: dropping %d of %d genes of the expression table that are not in %s (e.g. %s).",
                       cell, int((~in_gl).sum()), n_expr, gl_path, list(expr.index[~in_gl][:3]))
    ids = expr.index[in_gl]
    genes = gl.loc[ids]
    no_tss = genes["tss"].isna() | genes["chr"].isna()
    if no_tss.any():
        logger.warning("GeneExp %s: dropping %d genes without chr/tss in %s.", cell, int(no_tss.sum()), gl_path)
        genes = genes.loc[~no_tss]
    n_dropped = n_expr - len(genes)

    folds = _dedupe(_id_index(pd.read_csv(fold_path), ["ENSID"], str(fold_path)), str(fold_path))
    not_in_folds = ~genes.index.isin(folds.index)
    if not_in_folds.any():
        raise ValueError(
            f"The gene list does not match the fold table {str(fold_path)!r}: {len(genes)} genes (expression table "
            f"and GeneList), {len(folds)} rows in the fold table, {int((~not_in_folds).sum())} shared, "
            f"{int(not_in_folds.sum())} genes missing from the fold table (e.g. {list(genes.index[not_in_folds][:3])})."
        )
    extra = int((~folds.index.isin(genes.index)).sum())
    if extra:
        logger.info("GeneExp: %d fold-table genes are not in the dataset.", extra)
    if "chrom" in folds.columns:
        other = folds.loc[genes.index, "chrom"].astype(str).to_numpy() != genes["chr"].astype(str).to_numpy()
        if other.any():
            logger.warning("GeneExp %s: %d genes are on a different chromosome in the fold table than in the "
                           "GeneList (e.g. %s); the split follows the fold table.", cell, int(other.sum()),
                           list(genes.index[other][:3]))

    if hic_kind == "profiles":
        check_profile_files(profile_file_pattern(hic_source), genes["chr"].astype(str).to_numpy())

    tss = genes["tss"].astype(np.int64)
    table = pd.DataFrame(
        {
            "chrom": genes["chr"].astype(str),
            "start": genes["start"].astype(np.int64) if "start" in genes else tss,
            "end": genes["end"].astype(np.int64) if "end" in genes else tss + 1,
            "strand": genes["strand"].astype(str) if "strand" in genes else "+",
            "tss": tss,
            "gene_id": genes.index,
        },
        index=genes.index,
    )
    if not {"start", "end", "strand"} <= set(genes.columns):
        logger.warning("GeneExp: %s lacks start/end/strand; using start = tss, end = tss + 1, strand '+'.", gl_path)
    if "Gene name" in expr.columns:
        table["gene_name"] = expr.loc[genes.index, "Gene name"].astype(str).to_numpy()
    elif "name" in genes.columns:
        table["gene_name"] = genes["name"].astype(str)
    else:
        table["gene_name"] = genes.index
    adata = pp.read_genes(table.reset_index(drop=True))
    if adata.n_obs < len(table):
        n_dropped += len(table) - adata.n_obs

    pp.add_expression(adata, expr, sample=cell, value=cage, transform="log10p1")
    n_nan = int(np.isnan(np.asarray(adata.X[:, 0])).sum())
    if n_nan:
        logger.warning("GeneExp %s: %d genes have no CAGE value (NaN in X).", cell, n_nan)
    cov = expr.loc[adata.obs_names, MRNA_FEATURES].apply(pd.to_numeric, errors="coerce")
    rpm = gl.loc[adata.obs_names, [H3K27AC_RPM, DHS_RPM]].apply(pd.to_numeric, errors="coerce")
    cov[PROMOTER_ACTIVITY] = np.sqrt(rpm[H3K27AC_RPM] * rpm[DHS_RPM])
    pp.add_covariates(adata, cov, keys=COVARIATES)
    pp.split_folds(adata, fold_path, fold=fold)
    pp.set_window(adata, int(window), bin_size=1, assembly="hg38")
    prism = adata.uns.setdefault("prism", {})
    prism["dataset"] = "geneexp"
    prism["geneexp"] = {
        "root": str(root),
        "cell": cell,
        "fold": str(fold),
        "hic": hic_source,
        "n_genes_expression_table": int(n_expr),
        "n_genes_dropped": int(n_dropped),
    }
    logger.info("GeneExp %s: %d genes (%d of the expression table dropped), split %s.", cell, adata.n_obs,
                n_dropped, adata.obs["split"].value_counts().to_dict())

    out = Path(store) if store is not None else None
    from ..io._atomic import atomic_path
    from ..io._zarr import install_store

    # built in a hidden sibling; installed never over a non-store, over a store only with overwrite
    install = (lambda src, dst: install_store(src, dst, overwrite=overwrite))
    with atomic_path(out, kind="build", install=install) if out is not None else nullcontext() as tmp:
        pp.add_sequence(adata, fasta, store=tmp)
        pp.add_track(adata, h3k27ac, name="H3K27ac", sample=cell, role="foreground", nan=0.0, store=tmp)
        pp.add_track(adata, dnase, name="DNase", sample=cell, role="background", nan=0.0, store=tmp)
        if hic_kind == "profiles":
            add_hic_profiles(adata, hic_source, name="HiC", sample=cell, role="background", store=tmp)
        elif hic_kind == "hic":
            add_juicer_hic(adata, hic_source, name="HiC", sample=cell, role="background", resolution=5000,
                           normalization="VC", store=tmp)
        else:
            multi = hic_source.lower().partition("::")[0].endswith(".mcool") and "::" not in hic_source
            pp.add_hic(adata, hic_source, name="HiC", sample=cell, role="background",
                       resolution=5000 if multi else None, store=tmp)
        if out is None:
            return adata
    logger.info("GeneExp %s: wrote %s", cell, out)
    return io.read(out)
