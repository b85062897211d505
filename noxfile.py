"""Developer tasks. Sessions run in the current environment (``pip install -e ".[test,docs]"`` first).

    nox -s tutorials            # execute every tutorials/NN_name.py, rewrite its .ipynb with outputs
    nox -s tutorials -- 02 04   # only some tutorials
    nox -s tutorials_check      # fail if a committed notebook no longer matches its source (fast, no run)
    nox -s docs                 # build the docs with warnings as errors
    nox -s doctest              # run the Examples sections of the docstrings
"""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "none"
nox.options.sessions = ["tutorials_check", "doctest"]


@nox.session(venv_backend="none")
def tutorials(session: nox.Session) -> None:
    """Refresh the committed tutorial notebooks from their sources (executes them; minutes on a CPU)."""
    session.run("python", "tutorials/run_tutorials.py", *session.posargs)


@nox.session(venv_backend="none")
def tutorials_check(session: nox.Session) -> None:
    """Check that each committed notebook matches its source and is executed."""
    session.run("python", "tutorials/run_tutorials.py", "--check", *session.posargs)


@nox.session(venv_backend="none")
def docs(session: nox.Session) -> None:
    """Build the HTML docs with warnings as errors (offline; see docs/conf.py on intersphinx)."""
    session.run("python", "-m", "sphinx", "-W", "--keep-going", "-b", "html", "docs", "docs/_build/html",
                env={"MPLBACKEND": "agg"})


@nox.session(venv_backend="none")
def doctest(session: nox.Session) -> None:
    """Run the Examples sections of the public docstrings as doctests."""
    session.run("python", "-m", "pytest", "-q", "tests/test_doctests.py", env={"MPLBACKEND": "agg"})
