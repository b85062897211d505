import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import prismtools as pt
from prismtools.cli import main


def _spec(genome, tmp_path, extra=""):
    tpm = tmp_path / "tpm.tsv"
    pd.DataFrame({"gene": ["G1", "G2", "G4"], "TPM": [1.0, 9.0, 99.0]}).to_csv(tpm, sep="\t", index=False)
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"""
output: out.zarr
genes: {{path: {genome['bed']}}}
expression:
  - {{path: tpm.tsv, sample: K562, gene_key: gene, value: TPM, transform: log10p1}}
window: {{width: 200, bin_size: 10, assembly: test}}
sequence: {{fasta: {genome['fasta']}}}
tracks:
  - {{bigwig: {genome['bigwig']}, name: sig, sample: K562, role: foreground}}
hic:
  - {{uri: "{genome['mcool']}::resolutions/1000", sample: K562, balance: false}}
split: {{test: chr2}}
{extra}""")
    return spec


def test_build_spec_end_to_end(genome, tmp_path, capsys):
    spec = _spec(genome, tmp_path)
    assert main(["build", str(spec)]) == 0
    a = pt.io.read(tmp_path / "out.zarr")
    assert a.obsm["tracks"].shape == (6, 2, 20) and a.obsm["sequence"].shape == (6, 200)
    assert list(a.uns["prism"]["tracks"]["name"]) == ["sig", "HiC"]
    assert a.X[a.obs_names.get_loc("G2"), 0] == pytest.approx(1.0)
    assert (a.obs.loc[a.obs.chrom == "chr2", "split"] == "test").all()
    assert main(["build", str(spec)]) == 1  # exists, no --overwrite
    assert "exists" in capsys.readouterr().err
    assert main(["info", str(tmp_path / "out.zarr")]) == 0
    assert "HiC" in capsys.readouterr().out


def test_build_failure_leaves_no_store(genome, tmp_path, capsys):
    spec = _spec(genome, tmp_path, extra=f"table_tracks:\n  - {{path: tpm.tsv, column: NOPE, name: x, sample: K562, role: foreground}}\n")
    assert main(["build", str(spec)]) == 1
    assert "NOPE" in capsys.readouterr().err
    assert not (tmp_path / "out.zarr").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.zarr")]


def test_build_spec_errors(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("output: x.zarr\ngenes: {path: g.bed}\nwindow: {width: 100}\ntrakcs: []\n")
    assert main(["build", str(bad)]) == 1
    assert "trakcs" in capsys.readouterr().err
    assert main(["build", str(tmp_path / "missing.yaml")]) == 1


def test_example_and_module_entry():
    res = subprocess.run([sys.executable, "-m", "prismtools", "build", "--example"], capture_output=True, text=True)
    assert res.returncode == 0 and "window:" in res.stdout


def test_build_never_replaces_user_files(genome, tmp_path, capsys):
    spec = _spec(genome, tmp_path)
    (tmp_path / "out.zarr").mkdir()
    (tmp_path / "out.zarr" / "reads.fastq").write_text("@r1\nACGT\n")
    assert main(["build", str(spec), "--overwrite"]) == 1
    assert "not a prismtools/AnnData zarr store" in capsys.readouterr().err
    assert (tmp_path / "out.zarr" / "reads.fastq").read_text() == "@r1\nACGT\n"


def test_info_on_incomplete_store_and_leftovers(genome, tmp_path, capsys):
    import zarr

    from prismtools.io._zarr import set_status

    spec = _spec(genome, tmp_path)
    assert main(["build", str(spec)]) == 0
    store = tmp_path / "out.zarr"
    assert main(["info", "--verify", str(store)]) == 0
    assert "all checksums match" in capsys.readouterr().out
    (tmp_path / ".out.zarr.build-deadbeef").mkdir()  # what a killed build leaves
    set_status(zarr.open_group(str(store), mode="r+"), "writing: add_track(x)")
    assert main(["info", str(store)]) == 1
    out, err = capsys.readouterr()
    assert ".out.zarr.build-deadbeef" in out
    assert "incomplete" in err and "out.zarr" in err and "Traceback" not in err
    assert main(["build", str(spec), "--overwrite"]) == 0  # an (incomplete) store is replaced with --overwrite
    assert main(["info", str(store)]) == 0
