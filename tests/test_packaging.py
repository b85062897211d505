"""pyproject.toml declares what the package imports, justifies what it does not, and ships its LICENSE."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"

# import name -> distribution name, where they differ
DISTRIBUTION = {"yaml": "pyyaml", "hicstraw": "hic-straw", "sklearn": "scikit-learn", "PIL": "pillow", "Bio": "biopython"}
# imports guarded by a try/except that names the extra to install (optional features)
OPTIONAL = {"hicstraw": "hic", "distributed": "test", "Bio": "bgzip", "mamba_ssm": "cuda"}


def _project() -> dict:
    return tomllib.loads(PYPROJECT.read_text())["project"]


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _imports() -> dict[str, set[str]]:
    """Top-level third-party modules imported anywhere in the package (lazy imports included) -> files."""
    found: dict[str, set[str]] = {}
    for path in (ROOT / "prismtools").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "prismtools":
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_import_is_declared():
    project = _project()
    hard = {_name(r) for r in project["dependencies"]}
    extras = {k: {_name(r) for r in v} for k, v in project["optional-dependencies"].items()}
    missing = []
    for module, files in sorted(_imports().items()):
        dist = DISTRIBUTION.get(module, module).lower().replace("_", "-")
        if dist in hard:
            continue
        if module in OPTIONAL and dist in extras.get(OPTIONAL[module], set()):
            continue
        missing.append(f"{module} (imported in {sorted(files)[0]})")
    assert not missing, f"imported but not declared in pyproject.toml dependencies: {missing}"


def test_every_hard_dependency_is_imported_or_justified():
    """A dependency the package never imports carries a comment in pyproject.toml saying why it is there."""
    imported = {DISTRIBUTION.get(m, m).lower().replace("_", "-") for m in _imports()}
    lines = PYPROJECT.read_text().splitlines()
    unjustified = []
    for requirement in _project()["dependencies"]:
        if _name(requirement) in imported:
            continue
        line = next(ln for ln in lines if ln.strip().startswith(f'"{requirement}"'))
        if "#" not in line.split(f'"{requirement}"', 1)[1]:
            unjustified.append(requirement)
    assert not unjustified, f"never imported and no reason given in pyproject.toml: {unjustified}"


def test_license_file_is_shipped():
    project = _project()
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "prismtools developers" in text
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    sdist = tomllib.loads(PYPROJECT.read_text())["tool"]["hatch"]["build"]["targets"]["sdist"]["include"]
    assert "LICENSE" in sdist


def test_notebook_extra_has_ipywidgets_and_tests_install_it():
    extras = _project()["optional-dependencies"]
    assert "ipywidgets" in {_name(r) for r in extras["notebook"]}  # tqdm.auto widget bars in Jupyter
    assert "prismtools[notebook]" in extras["test"]
    assert {"jupytext", "nbclient", "nbformat"} <= {_name(r) for r in extras["test"]}
