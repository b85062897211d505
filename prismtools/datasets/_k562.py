"""``pt.datasets.k562()``: real K562 genes on chr16 and chr22 (hg38), bundled with the package."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files

import numpy as np
import pandas as pd
from anndata import AnnData

logger = logging.getLogger(__name__)

_GENES = "k562_hg38_chr22_chr16_genes.tsv.gz"
_COOL = "K562_hg38_chr22_5kb.cool"

#: the gaps the bundled files are known to have, as (logger, message template, the record's arguments that must
#: match exactly, by position); k562() reports exactly these at INFO level instead of WARNING (see its docstring)
_KNOWN_GAPS = (
    ("prismtools.pp._tables", "values marked missing in column", {1: 217, 2: "TPM_ENCFF934YBO"}),
    ("prismtools.pp._chroms", "genes are on chromosomes absent from the file", {1: 999, 2: 1516}),
)


class _KnownGap(logging.Filter):
    """Demote one known, documented warning to INFO: the record must come from ``logger``, its message template
    must contain ``text`` and its arguments must equal ``args``; any other record passes unchanged."""

    def __init__(self, text: str, args: dict[int, object]) -> None:
        super().__init__()
        self.text, self.args = text, args

    def filter(self, record: logging.LogRecord) -> bool:
        rargs = record.args if isinstance(record.args, tuple) else ()
        if record.levelno != logging.WARNING or self.text not in str(record.msg) or any(
            i >= len(rargs) or rargs[i] != v for i, v in self.args.items()
        ):
            return True
        record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
        return logging.getLogger("prismtools").isEnabledFor(logging.INFO)


@contextmanager
def _known_gaps_as_info() -> Iterator[None]:
    """While building the bundled dataset, report its known gaps (:data:`_KNOWN_GAPS`) at INFO, not WARNING.

    Only records that match a known gap exactly (same logger, message and counts) are demoted: a different
    count, or any other warning, still warns. Builds outside this context (a user's own data) are unaffected.
    """
    installed = [(logging.getLogger(name), _KnownGap(text, args)) for name, text, args in _KNOWN_GAPS]
    for log, flt in installed:
        log.addFilter(flt)
    try:
        yield
    finally:
        for log, flt in installed:
            log.removeFilter(flt)


def data_path(name: str) -> str:
    """Path of a bundled data file (see ``prismtools/datasets/data/README.md`` for sources and licences).

    Examples
    --------
    >>> import prismtools as pt
    >>> pt.datasets.data_path("README.md")  # doctest: +ELLIPSIS
    '.../prismtools/datasets/data/README.md'
    """
    return str(files("prismtools.datasets") / "data" / name)


def k562(*, width: int = 2000, bin_size: int = 1, hic: bool = True) -> AnnData:
    """Real K562 data for 1,516 genes on chr16 and chr22 (hg38), ready for :class:`prismtools.tl.Prism`.

    Built on the fly from bundled files derived from the ABC model's public test data (MIT; ENCODE
    measurements; see ``prismtools/datasets/data/README.md``):

    - target ``X[:, "K562"] = log10(TPM + 1)`` of ENCODE poly-A RNA-seq ENCFF934YBO (NaN for 217 genes whose symbol
      has no TPM), untransformed TPM in ``layers["raw"]``;
    - tracks ``H3K27ac`` (foreground) and ``DNase`` (background): the RPM over TSS +/- 500 bp painted as a flat
      step (``kind="table"``; no per-base bigWigs exist for these genes), and, with ``hic=True``, ``HiC``
      (background): the balanced virtual-4C profile of real K562 Hi-C at 5 kb, ``log10(x + 1)``. Hi-C covers chr22
      only: chr16 genes get 0 (logged);
    - covariates ``promoter_activity = sqrt(H3K27ac RPM x DNase RPM)`` (as in the method note) and
      ``log10_gene_length``;
    - ``obs["split"]``: within-chromosome contiguous blocks (:func:`prismtools.pp.split_blocks`, 10 blocks per
      chromosome, blocks 2 and 7 test, block 4 validation), since only two chromosomes are available.

    The bundled data have two known gaps, both expected and reported at INFO level (``pt.settings.verbosity =
    "info"`` shows them) rather than as warnings: 217 genes have no TPM (NaN target;
    :meth:`prismtools.tl.Prism.fit` leaves such genes out of training and says so), and the Hi-C file covers
    chr22 only, so with ``hic=True`` the 999 chr16 genes get an all-zero ``HiC`` track. Only these two messages,
    with exactly these counts, are demoted; the same conditions in a build of your own data warn as usual.

    There is no DNA sequence (none is public for these genes in hg38 that the package can bundle): use
    ``use_sequence=False``. The gene index is the gene symbol.

    Parameters
    ----------
    width, bin_size
        Window around the TSS (:func:`prismtools.pp.set_window`).
    hic
        Add the Hi-C track.

    Returns
    -------
    AnnData (1,516 genes x 1 sample).

    Examples
    --------
    >>> import prismtools as pt
    >>> adata = pt.datasets.k562(width=2000, bin_size=100, hic=False)
    >>> adata.n_obs, adata.var_names.tolist(), adata.obsm["tracks"].shape
    (1516, ['K562'], (1516, 2, 20))
    >>> adata.obs["split"].value_counts().to_dict()
    {'train': 1060, 'test': 304, 'valid': 152}
    """
    with _known_gaps_as_info():
        return _build_k562(width=width, bin_size=bin_size, hic=hic)


def _build_k562(*, width: int, bin_size: int, hic: bool) -> AnnData:
    from .. import pp

    df = pd.read_csv(data_path(_GENES), sep="\t")
    genes = df.rename(columns={"gene_start": "start", "gene_end": "end", "symbol": "gene_id"})
    genes["gene_name"] = genes["gene_id"]
    adata = pp.read_genes(genes[["chrom", "start", "end", "strand", "tss", "gene_id", "gene_name"]])
    table = df.set_index("symbol")
    pp.add_expression(adata, table, sample="K562", value="TPM_ENCFF934YBO", transform="log10p1")
    pp.set_window(adata, width, bin_size=bin_size, assembly="hg38")
    pp.add_table_track(adata, table, column="H3K27ac_RPM_TSS1kb", name="H3K27ac", sample="K562", role="foreground")
    pp.add_table_track(adata, table, column="DHS_RPM_TSS1kb", name="DNase", sample="K562", role="background")
    if hic:
        pp.add_hic(adata, data_path(_COOL), name="HiC", sample="K562", role="background")
    cov = pd.DataFrame(
        {
            "promoter_activity": np.sqrt(table["H3K27ac_RPM_TSS1kb"] * table["DHS_RPM_TSS1kb"]),
            "log10_gene_length": np.log10(table["gene_end"] - table["gene_start"]),
        },
        index=table.index,
    )
    pp.add_covariates(adata, cov, keys=list(cov.columns))
    pp.split_blocks(adata, n_blocks=10, test=(2, 7), valid=(4,))
    adata.uns["prism"]["dataset"] = "k562_hg38_chr16_chr22"
    return adata
