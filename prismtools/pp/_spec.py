"""Building a dataset from a small TOML/YAML spec (``prismtools build SPEC``)."""

from __future__ import annotations

import logging
import os
import tomllib
from pathlib import Path
from typing import Any

import yaml
from anndata import AnnData

logger = logging.getLogger(__name__)

SECTIONS = {"output", "genes", "window", "expression", "sequence", "tracks", "hic", "table_tracks", "covariates",
            "split", "normalize", "chunk_genes", "n_jobs"}
EXAMPLE = """\
# prismtools build spec (YAML; TOML with the same keys works too). Paths are relative to this file.
output: k562.zarr
genes: {path: genes.gtf, gene_types: [protein_coding]}
window: {width: 2000, bin_size: 1, assembly: hg38}
expression:
  - {path: expression.csv, sample: K562, value: K562_CAGE, transform: log10p1}
sequence: {fasta: hg38.fa}
tracks:
  - {bigwig: H3K27ac.bigWig, name: H3K27ac, sample: K562, role: foreground}
  - {bigwig: DNase.bigWig, name: DNase, sample: K562, role: background}
hic:
  - {uri: K562.mcool, resolution: 5000, sample: K562}
covariates: {path: features.csv, keys: [UTR5LEN, CDSLEN]}
split: {test: [chrX, chr22], valid: [chr3]}      # or {folds: folds.csv, fold: 11}
"""


def load_spec(spec: str | os.PathLike | dict) -> tuple[dict, Path]:
    """Parse a spec file (``.yaml``/``.yml``/``.toml``) or dict; return it and the base directory for paths."""
    if isinstance(spec, dict):
        return dict(spec), Path.cwd()
    path = Path(spec)
    if not path.exists():
        raise FileNotFoundError(f"Spec file not found: {str(path)!r}.")
    text = path.read_text()
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as err:
        raise ValueError(f"Could not parse spec {str(path)!r}: {err}") from err
    if not isinstance(data, dict):
        raise ValueError(f"Spec {str(path)!r} must be a mapping of sections; see `prismtools build --example`.")
    return data, path.parent


def _p(base: Path, value) -> str:
    s = str(value)
    if "::" in s:
        head, _, tail = s.partition("::")
        return f"{_p(base, head)}::{tail}"
    p = Path(s).expanduser()
    return str(p if p.is_absolute() else base / p)


def _list(x) -> list:
    return [] if x is None else (x if isinstance(x, list) else [x])


def _check_keys(section: str, entry: dict, allowed: set[str], required: set[str] = frozenset()) -> None:
    if not isinstance(entry, dict):
        raise ValueError(f"spec section {section!r} must be a mapping, got {entry!r}.")
    unknown = set(entry) - allowed
    if unknown:
        raise ValueError(f"spec section {section!r}: unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}.")
    missing = required - set(entry)
    if missing:
        raise ValueError(f"spec section {section!r}: missing keys {sorted(missing)}.")


def build(spec: str | os.PathLike | dict[str, Any], *, output: str | os.PathLike | None = None,
          overwrite: bool = False) -> AnnData:
    """Build a zarr dataset from a spec (see ``prismtools build --example``); return it opened lazily.

    The build streams into a hidden store next to ``output`` (``.<name>.build-*``) and is moved into place only
    when every step has succeeded, so a failed or interrupted build never leaves a store at ``output``; an
    interrupted one leaves that hidden folder, which ``prismtools info OUTPUT`` lists.

    Parameters
    ----------
    spec
        Path of a YAML/TOML spec, or the spec as a dict.
    output
        Store path (overrides the spec's ``output``).
    overwrite
        Replace an existing store at ``output`` (only a zarr store: a folder of other files or a regular file at
        ``output`` is never deleted).

    Returns
    -------
    The built AnnData, read back with :func:`prismtools.io.read` (lazy tracks).

    Examples
    --------
    Every input of a build written on the spot (a BED6 of genes, a TPM table, a FASTA), then a spec as a dict
    (a YAML/TOML file with the same keys works too; paths in a file are relative to it):

    >>> import prismtools as pt
    >>> with open("genes.bed", "w") as fh:
    ...     for row in ["chr1 1000 4000 ENSG01 0 +", "chr1 6000 9000 ENSG02 0 -", "chr2 2000 5000 ENSG03 0 +"]:
    ...         _ = fh.write("\\t".join(row.split()) + "\\n")
    >>> with open("tpm.tsv", "w") as fh:
    ...     _ = fh.write("gene\\tTPM\\nENSG01\\t9\\nENSG02\\t0\\nENSG03\\t99\\n")
    >>> with open("genome.fa", "w") as fh:
    ...     _ = fh.write(">chr1\\n" + "ACGT" * 2500 + "\\n>chr2\\n" + "GATTACA" * 1000 + "\\n")
    >>> spec = {
    ...     "output": "demo.zarr",
    ...     "genes": {"path": "genes.bed"},
    ...     "window": {"width": 200, "bin_size": 1, "assembly": "demo"},
    ...     "expression": [{"path": "tpm.tsv", "sample": "K562", "value": "TPM", "transform": "log10p1"}],
    ...     "sequence": {"fasta": "genome.fa"},
    ...     "split": {"test": ["chr2"], "valid": []},
    ... }
    >>> adata = pt.pp.build(spec)
    >>> adata
    AnnData object with n_obs × n_vars = 3 × 1
    ...
    >>> adata.obsm["sequence"].shape, adata.obs["split"].tolist()
    ((3, 200), ['train', 'train', 'test'])
    """
    from .. import io, pp
    from ..io._atomic import atomic_path
    from ..io._lock import lock_path
    from ..io._zarr import check_target, install_store, is_store
    from .._settings import settings

    data, base = load_spec(spec)
    unknown = set(data) - SECTIONS
    if unknown:
        raise ValueError(f"spec: unknown sections {sorted(unknown)}; allowed: {sorted(SECTIONS)}.")
    out = Path(output) if output is not None else (Path(_p(base, data["output"])) if "output" in data else None)
    if out is None:
        raise ValueError("spec: no output store (set `output:` or pass --output).")
    if out.exists() and not overwrite and is_store(out.absolute()):
        raise FileExistsError(f"{str(out)!r} exists; pass --overwrite (overwrite=True) to replace it.")
    check_target(out, overwrite)  # a folder of other files or a regular file is never replaced
    if "genes" not in data or "window" not in data:
        raise ValueError("spec: the sections `genes` and `window` are required.")
    old = settings.chunk_genes, settings.n_jobs
    settings.chunk_genes = int(data.get("chunk_genes", settings.chunk_genes))
    settings.n_jobs = int(data.get("n_jobs", settings.n_jobs))
    tmp = None
    try:
        with atomic_path(out, kind="build",
                         install=lambda src, dst: install_store(src, dst, overwrite=overwrite)) as tmp:
            g = data["genes"] if isinstance(data["genes"], dict) else {"path": data["genes"]}
            _check_keys("genes", g, {"path", "gene_types", "chromosomes"}, {"path"})
            adata = pp.read_genes(_p(base, g["path"]), gene_types=g.get("gene_types"), chromosomes=g.get("chromosomes"))
            for e in _list(data.get("expression")):
                _check_keys("expression", e, {"path", "sample", "gene_key", "value", "transform"}, {"path", "sample"})
                pp.add_expression(adata, _p(base, e["path"]), sample=e["sample"], gene_key=e.get("gene_key"),
                                  value=e.get("value"), transform=e.get("transform"))
            w = data["window"]
            _check_keys("window", w, {"width", "bin_size", "assembly"}, {"width"})
            pp.set_window(adata, int(w["width"]), bin_size=int(w.get("bin_size", 1)), assembly=w.get("assembly"))
            if data.get("covariates"):
                for c in _list(data["covariates"]):
                    _check_keys("covariates", c, {"path", "keys", "gene_key"}, {"path", "keys"})
                    pp.add_covariates(adata, _p(base, c["path"]), keys=c["keys"], gene_key=c.get("gene_key"))
            sp = data.get("split")
            if sp:
                _check_keys("split", sp, {"test", "valid", "folds", "fold", "gene_key"})
                if "folds" in sp:
                    pp.split_folds(adata, _p(base, sp["folds"]), fold=sp.get("fold", 11), gene_key=sp.get("gene_key"))
                else:
                    pp.split_chromosomes(adata, test=sp["test"], valid=sp.get("valid", []))
            io.write(adata, tmp)
            if data.get("sequence"):
                s = data["sequence"] if isinstance(data["sequence"], dict) else {"fasta": data["sequence"]}
                _check_keys("sequence", s, {"fasta", "reverse_complement_minus"}, {"fasta"})
                pp.add_sequence(adata, _p(base, s["fasta"]), reverse_complement_minus=bool(s.get("reverse_complement_minus", False)), store=tmp)
            for t in _list(data.get("tracks")):
                _check_keys("tracks", t, {"bigwig", "name", "sample", "role", "stat", "nan"}, {"bigwig", "name", "sample", "role"})
                pp.add_track(adata, _p(base, t["bigwig"]), name=t["name"], sample=t["sample"], role=t["role"],
                             stat=t.get("stat", "mean"), nan=t.get("nan", 0.0), store=tmp)
            for h in _list(data.get("hic")):
                _check_keys("hic", h, {"uri", "name", "sample", "role", "resolution", "balance", "transform"}, {"uri", "sample"})
                pp.add_hic(adata, _p(base, h["uri"]), name=h.get("name", "HiC"), sample=h["sample"],
                           role=h.get("role", "background"), resolution=h.get("resolution"),
                           balance=bool(h.get("balance", True)), transform=h.get("transform", "log10p1"), store=tmp)
            for t in _list(data.get("table_tracks")):
                _check_keys("table_tracks", t, {"path", "column", "name", "sample", "role", "extent", "gene_key"},
                            {"path", "column", "name", "sample", "role"})
                pp.add_table_track(adata, _p(base, t["path"]), column=t["column"], name=t["name"], sample=t["sample"],
                                   role=t["role"], extent=int(t.get("extent", 500)), gene_key=t.get("gene_key"), store=tmp)
            for n in _list(data.get("normalize")):
                _check_keys("normalize", n, {"method", "tracks", "fit_split"}, {"method"})
                pp.normalize_tracks(adata, method=n["method"], tracks=n.get("tracks"), fit_split=n.get("fit_split", "train"))
            if data.get("normalize"):
                io.write(adata, tmp, overwrite=True)  # its own lazy tracks are copied before the old store goes
    finally:
        settings.chunk_genes, settings.n_jobs = old
        if tmp is not None:
            lock_path(tmp).unlink(missing_ok=True)
    logger.info("built %s", out)
    return io.read(out)
