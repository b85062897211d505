"""Sphinx configuration for the prismtools documentation.

Build (no network needed):

    pip install -e ".[docs]"
    python -m sphinx -W --keep-going -b html docs docs/_build/html      # or: nox -s docs

The tutorials are rendered from the committed, executed notebooks (``tutorials/NN_name.ipynb``, refreshed from
their sources with ``nox -s tutorials``), so Sphinx does not execute them (``nb_execution_mode = "off"``); the
test suite executes every tutorial from its source.

Links to other projects (intersphinx): anndata, scanpy, xarray, numpy, pandas and torch. The build must work
offline, so it reads small inventories shipped in ``docs/_inv/`` (written by ``python docs/_ext/inventories.py``,
which lists the objects these docs refer to and checks each against the installed package). They point at
the projects' public documentation, so the links are the real ones. With ``PRISMTOOLS_DOCS_INTERSPHINX=online``
the build first fetches each project's full ``objects.inv`` from the web and falls back to the shipped one.
A reference into one of these projects that resolves nowhere is an error (``-W``): add the object to
``docs/_ext/inventories.py`` and rerun it.
"""

from __future__ import annotations

import os
import sys
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent))  # import the checkout being documented, installed or not

os.environ.setdefault("MPLBACKEND", "agg")

import api_page  # docs/_ext

import prismtools

# The API page is generated from each public module's __all__, so new functions are never left out.
api_page.write()


def _copy_tutorials() -> None:
    """Copy ../tutorials/*.ipynb (committed executed) to docs/tutorials/ (git-ignored), inside the Sphinx tree.

    A copy rather than a symlink: relative links in the notebooks (``../method.md``) then resolve in the docs.
    Only changed files are rewritten, so incremental builds stay incremental. A tutorial source with no
    notebook yet (added, not yet refreshed with ``nox -s tutorials``) is rendered from its source without
    outputs, so the docs still build; the test suite fails on the missing notebook.
    """
    import shutil

    src, dst = HERE.parent / "tutorials", HERE / "tutorials"
    dst.mkdir(exist_ok=True)
    sources = sorted(src.glob("[0-9][0-9]_*.py"))
    wanted = {nb.name for nb in src.glob("*.ipynb")} | {s.with_suffix(".ipynb").name for s in sources}
    for stale in dst.glob("*.ipynb"):
        if stale.name not in wanted:
            stale.unlink()
    for nb in sorted(src.glob("*.ipynb")):
        target = dst / nb.name
        if not target.exists() or target.read_bytes() != nb.read_bytes():
            shutil.copyfile(nb, target)
    for source in sources:
        if not source.with_suffix(".ipynb").exists():
            import jupytext

            text = jupytext.writes(jupytext.read(source), fmt="ipynb")
            target = dst / source.with_suffix(".ipynb").name
            if not target.exists() or target.read_text() != text:
                target.write_text(text)


_copy_tutorials()

# -- project ------------------------------------------------------------------------------------------------
project = "prismtools"
author = "prismtools developers"
copyright = f"{date.today().year}, {author}"
version = release = prismtools.__version__

# -- general ------------------------------------------------------------------------------------------------
extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.intersphinx",
]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}  # .rst first: autosummary stubs are rst
master_doc = "index"
templates_path = ["_templates"]
exclude_patterns = [
    "_build",
    "_ext",
    "_templates",
    "**.ipynb_checkpoints",
    "Thumbs.db",
    ".DS_Store",
    "tutorials/README.md",
    "tutorials/.ipynb_checkpoints",
]
nitpicky = False

# -- intersphinx (offline by default, see the module docstring) ----------------------------------------------
import inventories  # docs/_ext

_ONLINE = os.environ.get("PRISMTOOLS_DOCS_INTERSPHINX", "offline").lower() == "online"
intersphinx_mapping = {
    name: (url, (None, f"_inv/{name}.inv") if _ONLINE else f"_inv/{name}.inv")
    for name, url in inventories.PROJECTS.items()
}
intersphinx_timeout = 10

# -- autodoc / autosummary / napoleon -----------------------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = True
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
autoclass_content = "class"
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
napoleon_use_param = True
# prismtools writes "Returns" as prose ("Nothing. Writes ``obs[...]`` ..."), scanpy style, not as numpy
# "name : type" entries; render it as a plain "Returns" rubric with the text as written (an unknown alias
# makes napoleon use its generic section parser).
napoleon_custom_sections = [("Returns", "prose")]

# -- MyST / myst-nb -----------------------------------------------------------------------------------------
myst_enable_extensions = ["colon_fence", "dollarmath", "amsmath", "deflist"]
myst_heading_anchors = 3
nb_execution_mode = "off"  # the tutorials are executed by tests/test_docs_tutorials.py, not by Sphinx
nb_merge_streams = True

# -- HTML ---------------------------------------------------------------------------------------------------
try:
    import sphinx_book_theme  # noqa: F401

    html_theme = "sphinx_book_theme"
    html_theme_options = {"show_toc_level": 2, "navigation_with_keys": False}
except ImportError:  # the builtin theme keeps the build working where the theme is not installed
    html_theme = "alabaster"
html_title = f"prismtools {version}"
html_static_path: list[str] = []
# "!prismtools build ..." shell lines in notebook code cells are not Python; Pygments falls back to a relaxed
# lexer (still highlighted), which is fine.
suppress_warnings = ["mystnb.unknown_mime_type", "misc.highlighting_failure"]


# -- pages added later ----------------------------------------------------------------------------------------
# index.md's toctree lists the pages this docs tree was written with. A top-level page added later (e.g. a
# benchmark or validation report) would otherwise break the -W build ("document isn't included in any
# toctree"), so any other docs/*.md page is appended to the navigation under "More".
_LISTED = {"index", "method", "data_model", "tutorials", "scanpy_users", "api"}


def _extra_pages() -> list[str]:
    return sorted(p.stem for p in HERE.glob("*.md") if p.stem not in _LISTED)


def _add_extra_pages(app, docname, source):
    extra = _extra_pages()
    if docname == "index" and extra:
        source[0] += "\n```{toctree}\n:caption: More\n:maxdepth: 1\n\n" + "\n".join(extra) + "\n```\n"


def _reread_index(app, env, added, changed, removed):
    """Re-read index.md when pages come or go, so an incremental build updates the "More" toctree."""
    return ["index"] if added or removed else []


def setup(app):
    app.connect("missing-reference", inventories.check_unresolved, priority=900)
    app.connect("source-read", _add_extra_pages)
    app.connect("env-get-outdated", _reread_index)
