"""The documentation and the tutorials.

- every tutorial notebook runs top to bottom in a fresh ``python3`` kernel, in a temporary working directory
  (so stores and figures never land in the repository), under a per-notebook time limit;
- the committed notebooks are exactly what ``tutorials/make_tutorials.py`` generates;
- ``docs/api.md`` has an entry for every name in every public module's ``__all__``;
- the Sphinx docs build with ``-W`` (warnings are errors).

Needs ``nbclient``, ``nbformat`` and ``ipykernel`` (notebooks) and the ``docs`` extra (Sphinx build); each test
skips with the reason when its packages are missing.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ROOT / "tutorials"
DOCS = ROOT / "docs"
SHARED = ROOT.parent / "shared" / "data"

# notebook -> whole-notebook time limit in seconds (they take about 20 s, 100 s and 70 s on a busy 2-core CPU)
NOTEBOOK_LIMITS = {
    "01_build_dataset.ipynb": 300,
    "02_fit_prism.ipynb": 600,
    "03_analyses.ipynb": 600,
}
# text a notebook must print (its own checks, beyond running without error)
EXPECTED_OUTPUT = {
    "01_build_dataset.ipynb": ["tracks identical to the step-by-step build: True"],
    "02_fit_prism.ipynb": ["same predictions after reload: True"],
}
ANALYSES = {
    "tl": ["length_sweep", "signal_ablation", "attribute", "attribution_by_distance", "summarize_seeds"],
    "pl": ["length_curve", "signal_ablation", "attribution_profile", "tracks"],
}
PUBLIC_MODULES = ["prismtools.pp", "prismtools.tl", "prismtools.pl", "prismtools.io", "prismtools.datasets",
                  "prismtools.models"]


# ---------------------------------------------------------------------------------------------- helpers


def _need_notebook_tools():
    for mod in ("nbformat", "nbclient", "ipykernel"):
        pytest.importorskip(mod, reason=f"{mod} is needed to execute the tutorials")
    from jupyter_client.kernelspec import NoSuchKernel, find_kernel_specs  # installed with nbclient

    if "python3" not in find_kernel_specs():
        pytest.skip(f"no 'python3' Jupyter kernel ({NoSuchKernel.__name__}); run `python -m ipykernel install --user`")


def _client(nb, *, limit: int, workdir: Path):
    """An nbclient that gives each cell what is left of ``limit`` seconds for the whole notebook.

    nbclient's own ``timeout`` is per cell; setting it before every cell to the remaining budget bounds the
    notebook, and a timeout is handled by nbclient itself (kernel interrupted and shut down, CellTimeoutError).
    """
    from nbclient import NotebookClient

    class DeadlineClient(NotebookClient):
        deadline = 0.0

        async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
            self.timeout = max(1, int(self.deadline - time.monotonic()))
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)

    client = DeadlineClient(nb, timeout=limit, kernel_name="python3", resources={"metadata": {"path": str(workdir)}})
    client.deadline = time.monotonic() + limit
    return client


def _run_notebook(name: str, workdir: Path, monkeypatch, *, shared: str | None) -> tuple[object, float]:
    """Execute ``tutorials/<name>`` in ``workdir``; return the executed notebook and its wall time."""
    import nbformat

    # the kernel inherits this environment: real data (or the simulated fallback), inline figures
    if shared is None:
        monkeypatch.setenv("PRISMTOOLS_SHARED_DATA", "none")
    else:
        monkeypatch.setenv("PRISMTOOLS_SHARED_DATA", shared)
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(TUTORIALS / name, as_version=4)
    client = _client(nb, limit=NOTEBOOK_LIMITS[name], workdir=workdir)
    t0 = time.perf_counter()
    client.execute()
    return nb, time.perf_counter() - t0


def _text_outputs(nb) -> str:
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            if o.get("output_type") == "stream":
                out.append(o.get("text", ""))
            elif "data" in o:
                out.append(o["data"].get("text/plain", ""))
    return "\n".join(out)


def _check_ran(nb, name: str, seconds: float) -> None:
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{name}: {errors[0].get('ename')}: {errors[0].get('evalue')}"
    unexecuted = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.get("execution_count") is None]
    assert not unexecuted, f"{name}: cells {unexecuted} did not run"
    text = _text_outputs(nb)
    for expected in EXPECTED_OUTPUT.get(name, []):
        assert expected in text, f"{name}: expected output {expected!r} not found"
    print(f"{name}: ran in {seconds:.0f} s")


# ---------------------------------------------------------------------------------------------- notebooks


@pytest.mark.slow
@pytest.mark.realdata
def test_tutorial_01_build_dataset_real_data(tmp_path, monkeypatch):
    _need_notebook_tools()
    if not SHARED.exists():
        pytest.skip("../shared/data is not available (the simulated fallback is tested separately)")
    nb, seconds = _run_notebook("01_build_dataset.ipynb", tmp_path, monkeypatch, shared=str(SHARED))
    _check_ran(nb, "01_build_dataset.ipynb", seconds)
    text = _text_outputs(nb)
    assert f"real data: {SHARED.resolve()}" in text
    # the FASTA offset is handled: CpG islands show at the real TSSs (data README: median o/e about 0.75)
    oe = float(re.search(r"median CpG o/e at TSS \+/- 500 bp: ([0-9.]+)", text).group(1))
    assert oe > 0.6, oe


@pytest.mark.slow
def test_tutorial_01_build_dataset_simulated_fallback(tmp_path, monkeypatch):
    """Without ../shared/data the first tutorial falls back to pt.datasets.simulate files and still runs."""
    _need_notebook_tools()
    nb, seconds = _run_notebook("01_build_dataset.ipynb", tmp_path, monkeypatch, shared=None)
    _check_ran(nb, "01_build_dataset.ipynb", seconds)
    assert "using pt.datasets.simulate files" in _text_outputs(nb)
    assert not (TUTORIALS / "simulated_genome").exists() and (tmp_path / "simulated_genome").is_dir()


@pytest.mark.slow
def test_tutorial_02_fit_prism(tmp_path, monkeypatch):
    _need_notebook_tools()
    pytest.importorskip("scanpy")
    nb, seconds = _run_notebook("02_fit_prism.ipynb", tmp_path, monkeypatch, shared=None)
    _check_ran(nb, "02_fit_prism.ipynb", seconds)
    assert (tmp_path / "k562_prism_model" / "registry.json").is_file()


@pytest.mark.slow
def test_tutorial_03_analyses(tmp_path, monkeypatch):
    _need_notebook_tools()
    import prismtools as pt

    missing = [f"pt.{mod}.{name}" for mod, names in ANALYSES.items() for name in names
               if not hasattr(getattr(pt, mod), name)]
    if missing:
        pytest.skip(f"tutorial 3 needs the analysis functions {missing}, which this checkout does not have yet")
    nb, seconds = _run_notebook("03_analyses.ipynb", tmp_path, monkeypatch, shared=None)
    _check_ran(nb, "03_analyses.ipynb", seconds)


def test_notebooks_match_generator():
    """The committed .ipynb files are exactly what tutorials/make_tutorials.py writes (edit the script)."""
    pytest.importorskip("nbformat")
    res = subprocess.run([sys.executable, str(TUTORIALS / "make_tutorials.py"), "--check"],
                         check=False, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


# ---------------------------------------------------------------------------------------------- docs


def _api_entries() -> dict[str, set[str]]:
    """module -> names listed in autosummary blocks of docs/api.md (under the current ``currentmodule``)."""
    entries: dict[str, set[str]] = {}
    module = None
    in_summary = False
    for line in (DOCS / "api.md").read_text().splitlines():
        if m := re.match(r"\.\. currentmodule:: (\S+)", line.strip()):
            module = m.group(1)
        if line.strip().startswith(".. autosummary::"):
            in_summary = True
            continue
        if in_summary:
            if line.strip().startswith("```"):
                in_summary = False
            elif re.match(r"^ {3}[A-Za-z_]\w*$", line) and module:
                entries.setdefault(module, set()).add(line.strip())
    return entries


def test_api_page_lists_every_public_name():
    """Every name in each public module's __all__ (and pt.get_tracks, pt.settings) is in docs/api.md."""
    import prismtools

    entries = _api_entries()
    missing = []
    for module in PUBLIC_MODULES:
        names = importlib.import_module(module).__all__
        missing += [f"{module}.{n}" for n in names if n not in entries.get(module, set())]
    top = [n for n in prismtools.__all__ if n not in {"pp", "tl", "pl", "io", "datasets", "__version__"}]
    missing += [f"prismtools.{n}" for n in top if n not in entries.get("prismtools", set())]
    assert not missing, (
        f"docs/api.md lacks {missing}; run `python docs/_ext/api_page.py` (the docs build also regenerates it)"
    )
    extra = [f"{m}.{n}" for m, names in entries.items() for n in names
             if n not in getattr(importlib.import_module(m), "__all__", [])]
    assert not extra, f"docs/api.md lists names that are not public: {extra}"


def test_api_page_is_up_to_date():
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        api_page = importlib.import_module("api_page")
    finally:
        sys.path.remove(str(DOCS / "_ext"))
    assert (DOCS / "api.md").read_text() == api_page.render(), (
        "docs/api.md is stale: run `python docs/_ext/api_page.py` (the docs build also regenerates it)"
    )


@pytest.mark.slow
def test_docs_build_without_warnings(tmp_path):
    for mod in ("sphinx", "myst_nb"):
        if importlib.util.find_spec(mod) is None:
            pytest.skip(f"{mod} is not installed (pip install -e '.[docs]')")
    out = tmp_path / "html"
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", "-d", str(tmp_path / "doctrees"),
           str(DOCS), str(out)]
    env = {**os.environ, "MPLBACKEND": "agg"}
    t0 = time.perf_counter()
    res = subprocess.run(cmd, check=False, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert res.returncode == 0, f"sphinx -W failed:\n{res.stderr[-6000:]}"
    print(f"docs built in {time.perf_counter() - t0:.0f} s")
    for page in ("index", "method", "data_model", "api", "tutorials/01_build_dataset", "tutorials/02_fit_prism",
                 "tutorials/03_analyses"):
        assert (out / f"{page}.html").is_file(), page
    for module in PUBLIC_MODULES:
        for name in importlib.import_module(module).__all__:
            assert (out / "generated" / f"{module}.{name}.html").is_file(), f"no API page for {module}.{name}"
    for name in ("get_tracks", "settings"):
        assert (out / "generated" / f"prismtools.{name}.html").is_file()
