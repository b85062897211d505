"""The documentation and the tutorials.

- every tutorial source ``tutorials/NN_name.py`` (jupytext percent format) runs top to bottom in a fresh
  ``python3`` kernel, in a temporary working directory (so stores and figures never land in the repository),
  under a per-tutorial time limit, and prints what it must;
- each committed ``tutorials/NN_name.ipynb`` matches its source (cells) and is executed (outputs, one run in
  order, no errors, small); after a fresh run, every cell that printed or drew has output committed;
- ``docs/api.md`` has an entry for every name in every public module's ``__all__``;
- the Sphinx docs build with ``-W`` (warnings are errors), render the executed notebooks, and resolve
  intersphinx links to anndata, scanpy, xarray, numpy, pandas and torch offline.

Needs ``nbclient``, ``nbformat``, ``ipykernel`` and ``jupytext`` (notebooks) and the ``docs`` extra (Sphinx
build); each test skips with the reason when its packages are missing. Refresh the notebooks with
``nox -s tutorials`` (``tutorials/run_tutorials.py``).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ROOT / "tutorials"
DOCS = ROOT / "docs"
SHARED = ROOT.parent / "shared" / "data"


def _load_runner():
    spec = importlib.util.spec_from_file_location("run_tutorials", TUTORIALS / "run_tutorials.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


runner = _load_runner()
SOURCES = runner.sources()  # tutorials/NN_name.py; a new tutorial is picked up by its name

# text a tutorial must print (its own checks, beyond running without error); others need only run
EXPECTED_OUTPUT = {
    "01_build_dataset": ["tracks identical to the step-by-step build: True"],
    "02_fit_prism": ["same predictions after reload: True"],
    "04_from_scanpy": ["biosamples x genes"],
}
# public functions a tutorial needs; while a checkout lacks them, its tests skip and say so
REQUIRES = {
    "03_analyses": ["tl.length_sweep", "tl.signal_ablation", "tl.attribute", "tl.attribution_by_distance",
                    "tl.summarize_seeds", "pl.length_curve", "pl.signal_ablation", "pl.attribution_profile",
                    "pl.tracks"],
    "04_from_scanpy": ["pp.pseudobulk", "pp.add_expression"],
}
PUBLIC_MODULES = ["prismtools.pp", "prismtools.tl", "prismtools.pl", "prismtools.io", "prismtools.datasets",
                  "prismtools.models"]


# ---------------------------------------------------------------------------------------------- helpers


def _need_notebook_tools():
    for mod in ("nbformat", "nbclient", "ipykernel", "jupytext"):
        pytest.importorskip(mod, reason=f"{mod} is needed to execute the tutorials")
    from jupyter_client.kernelspec import NoSuchKernel, find_kernel_specs  # installed with nbclient

    if "python3" not in find_kernel_specs():
        pytest.skip(f"no 'python3' Jupyter kernel ({NoSuchKernel.__name__}); run `python -m ipykernel install --user`")


def _need_api(stem: str):
    import prismtools as pt

    missing = []
    for dotted in REQUIRES.get(stem, []):
        mod, name = dotted.split(".")
        if not hasattr(getattr(pt, mod), name):
            missing.append(f"pt.{dotted}")
    if missing:
        pytest.skip(f"{stem} needs {missing}, which this checkout does not have yet")


def _run_source(source: Path, workdir: Path, *, shared) -> tuple[object, float]:
    """Execute ``source`` (converted by jupytext) in ``workdir``; return the executed notebook and its wall time."""
    nb = runner.to_notebook(source)
    seconds = runner.execute(nb, workdir=workdir, limit=runner.LIMITS.get(source.stem, runner.DEFAULT_LIMIT),
                             env=runner.kernel_env(shared))
    return nb, seconds


def _text_outputs(nb) -> str:
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            if o.get("output_type") == "stream":
                out.append(o.get("text", ""))
            elif "data" in o:
                out.append(o["data"].get("text/plain", ""))
    return "\n".join(out)


def _check_ran(nb, source: Path, seconds: float) -> None:
    name = source.stem
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{name}: {errors[0].get('ename')}: {errors[0].get('evalue')}"
    unexecuted = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.get("execution_count") is None]
    assert not unexecuted, f"{name}: cells {unexecuted} did not run"
    text = _text_outputs(nb)
    for expected in EXPECTED_OUTPUT.get(name, []):
        assert expected in text, f"{name}: expected output {expected!r} not found"
    print(f"{name}: ran in {seconds:.0f} s")


def _check_committed_has_outputs(nb, source: Path) -> None:
    """What a fresh run prints or draws, the committed notebook shows too (numbers are not compared)."""
    import nbformat

    committed = nbformat.read(runner.notebook_path(source), as_version=4)
    assert [c.source for c in committed.cells] == [c.source for c in nb.cells], (
        f"{source.stem}.ipynb is stale; run `nox -s tutorials -- {source.stem}`")
    missing = runner.missing_outputs(nb, committed)
    assert not missing, f"{source.stem}.ipynb lacks outputs a fresh run makes: {missing}; run `nox -s tutorials`"


# ---------------------------------------------------------------------------------------------- notebooks


def test_tutorial_sources_are_found():
    names = [s.stem for s in SOURCES]
    assert names[:3] == ["01_build_dataset", "02_fit_prism", "03_analyses"], names
    assert "04_from_scanpy" in names
    assert not (TUTORIALS / "make_tutorials.py").exists(), "the generator script is retired"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_tutorial_source_is_jupytext_percent(source):
    """Sources are plain Python in jupytext's percent format, paired with their notebook."""
    jupytext = pytest.importorskip("jupytext")
    from jupytext.formats import guess_format

    text = source.read_text()
    assert guess_format(text, ".py")[0] == "percent", f"{source.name}: use `# %%` / `# %% [markdown]` cells"
    nb = jupytext.read(source)
    assert {c.cell_type for c in nb.cells} == {"markdown", "code"}
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# "), "start with a title"
    compile(text, str(source), "exec")  # the source itself is valid Python (lintable)
    config = (TUTORIALS / "jupytext.toml").read_text()
    assert 'formats = "ipynb,py:percent"' in config


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_committed_notebook_matches_source(source):
    """The committed .ipynb is what the source describes, executed (refresh: ``nox -s tutorials``)."""
    _need_notebook_tools()
    _need_api(source.stem)
    problems = runner.stale(source)
    assert not problems, "\n".join(problems)


def test_stale_check_fails_when_a_source_changes(tmp_path):
    """The stale check is not vacuous: an edited code or markdown cell, a stripped notebook, an error all fail."""
    pytest.importorskip("jupytext")
    import nbformat

    src, nb_path = TUTORIALS / "01_build_dataset.py", TUTORIALS / "01_build_dataset.ipynb"
    source, notebook = tmp_path / src.name, tmp_path / nb_path.name
    shutil.copyfile(src, source)
    shutil.copyfile(nb_path, notebook)
    assert runner.stale(source, notebook) == []

    text = src.read_text()
    source.write_text(text.replace("pt.settings.chunk_genes = 32", "pt.settings.chunk_genes = 16", 1))
    assert any("differs from" in p for p in runner.stale(source, notebook))
    source.write_text(text.replace("## Genes\n", "## The genes\n", 1))
    assert any("differs from" in p for p in runner.stale(source, notebook))
    source.write_text(text + "\n# %%\nprint('a new cell')\n")
    assert any("differs from" in p for p in runner.stale(source, notebook))

    source.write_text(text)
    nb = nbformat.read(nb_path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.write(nb, notebook)
    problems = runner.stale(source, notebook)
    assert any("not executed" in p for p in problems) and any("no outputs" in p for p in problems)

    nb = nbformat.read(nb_path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    code[-1].outputs.append(nbformat.v4.new_output("error", ename="ValueError", evalue="boom", traceback=[]))
    nbformat.write(nb, notebook)
    assert any("error outputs" in p for p in runner.stale(source, notebook))

    fresh = runner.to_notebook(src)
    committed = nbformat.read(nb_path, as_version=4)
    for a, b in zip(fresh.cells, committed.cells):
        a.outputs = b.get("outputs", [])
    assert runner.missing_outputs(fresh, committed) == []
    committed.cells[[i for i, c in enumerate(committed.cells) if c.get("outputs")][0]].outputs = []
    assert runner.missing_outputs(fresh, committed)


def test_text_only_update_keeps_outputs(tmp_path):
    """A prose edit is synced without a rerun; a code edit is refused (its outputs would be wrong)."""
    pytest.importorskip("jupytext")
    import nbformat

    source, notebook = tmp_path / "01_build_dataset.py", tmp_path / "01_build_dataset.ipynb"
    shutil.copyfile(TUTORIALS / source.name, source)
    shutil.copyfile(TUTORIALS / notebook.name, notebook)
    text = source.read_text()
    source.write_text(text.replace("## Genes\n", "## The genes\n", 1))
    assert runner.stale(source)
    runner.update_text(source)
    assert runner.stale(source) == []
    before = nbformat.read(TUTORIALS / notebook.name, as_version=4)
    after = nbformat.read(notebook, as_version=4)
    assert [c.get("outputs") for c in after.cells] == [c.get("outputs") for c in before.cells]
    source.write_text(text.replace("pt.settings.chunk_genes = 32", "pt.settings.chunk_genes = 16", 1))
    with pytest.raises(SystemExit, match="code cells changed"):
        runner.update_text(source)


@pytest.mark.slow
@pytest.mark.realdata
def test_tutorial_01_build_dataset_real_data(tmp_path):
    _need_notebook_tools()
    if not SHARED.exists():
        pytest.skip("../shared/data is not available (the simulated fallback is tested separately)")
    source = TUTORIALS / "01_build_dataset.py"
    nb, seconds = _run_source(source, tmp_path, shared=SHARED)
    _check_ran(nb, source, seconds)
    _check_committed_has_outputs(nb, source)
    text = _text_outputs(nb)
    assert f"real data: {SHARED.resolve()}" in text
    # the FASTA offset is handled: CpG islands show at the real TSSs (data README: median o/e about 0.75)
    oe = float(re.search(r"median CpG o/e at TSS \+/- 500 bp: ([0-9.]+)", text).group(1))
    assert oe > 0.6, oe


@pytest.mark.slow
@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_tutorial_runs(source, tmp_path):
    """Every tutorial runs from its source (01 on its simulated fallback; the real-data run is above)."""
    _need_notebook_tools()
    _need_api(source.stem)
    nb, seconds = _run_source(source, tmp_path, shared=None)
    _check_ran(nb, source, seconds)
    if source.stem == "01_build_dataset":
        assert "using pt.datasets.simulate files" in _text_outputs(nb)
        assert not (TUTORIALS / "simulated_genome").exists() and (tmp_path / "simulated_genome").is_dir()
    else:  # 01's committed notebook shows the real data, so its outputs are compared in the real-data test
        _check_committed_has_outputs(nb, source)
    if source.stem == "02_fit_prism":
        assert (tmp_path / "k562_prism_model" / "registry.json").is_file()


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


def test_intersphinx_inventories_are_up_to_date():
    """docs/_inv/*.inv are what docs/_ext/inventories.py writes; every listed object exists in its package."""
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        inventories = importlib.import_module("inventories")
    finally:
        sys.path.remove(str(DOCS / "_ext"))
    for project in inventories.PROJECTS:
        path = DOCS / "_inv" / f"{project}.inv"
        assert path.read_bytes() == inventories.render(project), f"{path} is stale: run python docs/_ext/inventories.py"
    conf = (DOCS / "conf.py").read_text()
    assert "sphinx.ext.intersphinx" in conf and "PRISMTOOLS_DOCS_INTERSPHINX" in conf


def test_unresolved_external_reference_fails_the_build(tmp_path):
    """A reference into an intersphinx project that the shipped inventory lacks is an error under -W."""
    pytest.importorskip("sphinx")
    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(DOCS / '_ext')!r})\n"
        "import inventories\n"
        "extensions = ['sphinx.ext.intersphinx']\n"
        f"intersphinx_mapping = {{n: (u, {str(DOCS / '_inv')!r} + f'/{{n}}.inv') for n, u in inventories.PROJECTS.items()}}\n"
        "def setup(app):\n"
        "    app.connect('missing-reference', inventories.check_unresolved, priority=900)\n"
    )

    def build(body: str):
        (src / "index.rst").write_text(f"Test\n====\n\n{body}\n")
        cmd = [sys.executable, "-m", "sphinx", "-W", "-q", "-E", "-b", "html", str(src), str(tmp_path / "out")]
        return subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)

    ok = build(":class:`pandas.DataFrame` and :func:`scanpy.get.aggregate`")
    assert ok.returncode == 0, ok.stderr
    assert "https://pandas.pydata.org/docs/reference/api/pandas.DataFrame.html" in (tmp_path / "out" / "index.html").read_text()
    bad = build(":class:`pandas.NotAThing`")
    assert bad.returncode != 0 and "unresolved reference to pandas.NotAThing" in bad.stderr


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
    pages = ["index", "method", "data_model", "scanpy_users", "api"] + [f"tutorials/{s.stem}" for s in SOURCES]
    for page in pages:
        assert (out / f"{page}.html").is_file(), page
    # the executed notebooks are rendered with their outputs (figures and tables), not re-executed
    for source in SOURCES:
        if runner.notebook_path(source).is_file() and not runner.stale(source):
            html = (out / "tutorials" / f"{source.stem}.html").read_text()
            assert "<img" in html and "cell_output" in html, f"{source.stem}: no rendered outputs"
    # intersphinx links resolve offline (docs/_inv) to the projects' public pages
    links = {
        "generated/prismtools.get_tracks.html": "https://docs.xarray.dev/en/stable/generated/xarray.DataArray.html",
        "generated/prismtools.pp.read_genes.html": "https://anndata.readthedocs.io/en/stable/generated/anndata.AnnData.html",
        "scanpy_users.html": "https://scanpy.readthedocs.io/en/stable/generated/scanpy.get.aggregate.html",
    }
    for page, link in links.items():
        assert f'href="{link}' in (out / page).read_text(), f"{page}: no link to {link}"
    for module in PUBLIC_MODULES:
        for name in importlib.import_module(module).__all__:
            assert (out / "generated" / f"{module}.{name}.html").is_file(), f"no API page for {module}.{name}"
    for name in ("get_tracks", "settings"):
        assert (out / "generated" / f"prismtools.{name}.html").is_file()
