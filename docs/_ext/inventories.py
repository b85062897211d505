"""Small intersphinx inventories for an offline docs build: ``python docs/_ext/inventories.py``.

The docs link to anndata, scanpy, xarray, numpy, pandas and torch. Sphinx's intersphinx normally downloads
each project's ``objects.inv``; the build here has no internet, so ``docs/_inv/<project>.inv`` holds the
objects these docs refer to, each pointing at its page in the project's public documentation (the URL layout
every one of these projects uses for its API pages). Every name is imported from the installed package
first, so an inventory never lists an object that does not exist, and its role (class, function, module)
comes from the object itself. Classes defined in a private module (``pandas.core.frame.DataFrame``, which is
how autodoc writes the type hint ``pd.DataFrame``) also get that name, pointing at the public page.

Add a name to ``OBJECTS`` when the docs build reports "unresolved reference to ...", then rerun this script.
``PRISMTOOLS_DOCS_INTERSPHINX=online`` makes the docs build use the projects' full inventories from the web.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import zlib
from pathlib import Path

INV = Path(__file__).resolve().parents[1] / "_inv"

#: project -> base URL of its documentation (also the intersphinx_mapping of docs/conf.py)
PROJECTS = {
    "anndata": "https://anndata.readthedocs.io/en/stable/",
    "scanpy": "https://scanpy.readthedocs.io/en/stable/",
    "xarray": "https://docs.xarray.dev/en/stable/",
    "numpy": "https://numpy.org/doc/stable/",
    "pandas": "https://pandas.pydata.org/docs/",
    "torch": "https://docs.pytorch.org/docs/stable/",
}
#: top-level module names whose references must resolve (docs/conf.py turns an unresolved one into an error)
MODULES = set(PROJECTS)

#: where a project puts the page of one API object (relative to its base URL)
PAGE = {
    "anndata": "generated/{name}.html",
    "scanpy": "generated/{name}.html",
    "xarray": "generated/{name}.html",
    "numpy": "reference/generated/{name}.html",
    "pandas": "reference/api/{name}.html",
    "torch": "generated/{name}.html",
}
#: objects documented on a shared page rather than one of their own
SPECIAL_PAGES = {
    "torch.Tensor": "tensors.html",
    "torch.device": "tensor_attributes.html",
    "torch.dtype": "tensor_attributes.html",
    "numpy.random.Generator": "reference/random/generator.html",
    "numpy.random.default_rng": "reference/random/generator.html",
}
#: the objects the docs refer to (type hints in signatures, and roles in the pages)
OBJECTS = {
    "anndata": ["anndata.AnnData", "anndata.read_zarr", "anndata.read_h5ad", "anndata.experimental.read_lazy"],
    "scanpy": ["scanpy.get.aggregate", "scanpy.pp.neighbors", "scanpy.pp.normalize_total", "scanpy.pp.log1p",
               "scanpy.pp.pca", "scanpy.tl.umap", "scanpy.pl.umap", "scanpy.pl.scatter", "scanpy.pl.violin",
               "scanpy.pl.matrixplot", "scanpy.datasets.pbmc68k_reduced"],
    "xarray": ["xarray.DataArray", "xarray.Dataset"],
    "numpy": ["numpy.ndarray", "numpy.dtype", "numpy.random.Generator", "numpy.random.default_rng"],
    "pandas": ["pandas.DataFrame", "pandas.Series", "pandas.Index", "pandas.Categorical"],
    "torch": ["torch.Tensor", "torch.device", "torch.dtype", "torch.nn.Module", "torch.get_num_threads"],
}


def check_unresolved(app, env, node, contnode):
    """``missing-reference`` handler: a Python reference into one of ``PROJECTS`` that intersphinx cannot
    resolve is a warning (an error under ``-W``), so a missing inventory entry never silently leaves plain text."""
    target = node.get("reftarget", "")
    if node.get("refdomain") != "py" or target.split(".")[0] not in MODULES:
        return None
    from sphinx.ext.intersphinx import missing_reference
    from sphinx.util import logging as sphinx_logging

    resolved = missing_reference(app, env, node, contnode)  # whatever order the handlers run in
    if resolved is None:
        sphinx_logging.getLogger(__name__).warning(
            "unresolved reference to %s (%s): add it to docs/_ext/inventories.py and run that script",
            target, node.get("reftype"), location=node)
    return resolved


def _resolve(name: str):
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)  # AttributeError: the name does not exist in the installed package
        return obj
    raise ImportError(name)


def _role(obj) -> str:
    if inspect.ismodule(obj):
        return "py:module"
    if inspect.isclass(obj):
        return "py:exception" if issubclass(obj, BaseException) else "py:class"
    if callable(obj):
        return "py:function"
    return "py:data"


def entries(project: str) -> list[tuple[str, str, str]]:
    """``(name, role, uri)`` for each object of ``project``, aliases of privately defined classes included."""
    out = []
    for name in OBJECTS[project]:
        obj = _resolve(name)
        page = SPECIAL_PAGES.get(name, PAGE[project].format(name=name))
        uri = f"{page}#{name}"
        role = _role(obj)
        out.append((name, role, uri))
        if role == "py:class":
            actual = f"{obj.__module__}.{obj.__qualname__}"
            if actual != name:
                out.append((actual, role, uri))
    return sorted(set(out))


def render(project: str) -> bytes:
    header = (
        "# Sphinx inventory version 2\n"
        f"# Project: {project}\n"
        "# Version: stable\n"
        "# The remainder of this file is compressed using zlib.\n"
    ).encode()
    body = "".join(f"{name} {role} 1 {uri} -\n" for name, role, uri in entries(project)).encode()
    return header + zlib.compress(body, 9)


def main() -> int:
    INV.mkdir(exist_ok=True)
    for project in PROJECTS:
        path = INV / f"{project}.inv"
        path.write_bytes(render(project))
        print(f"wrote {path} ({len(entries(project))} objects)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
