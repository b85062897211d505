"""``tqdm.auto`` bars in a notebook: the widget bar with ipywidgets, a quiet text bar without it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# A Jupyter kernel as tqdm.autonotebook detects one ('ipykernel.zmqshell' imported); ipywidgets blocked.
KERNEL_WITHOUT_IPYWIDGETS = """
import sys, types, warnings
import IPython  # noqa: F401  (real; tqdm reads IPython.get_ipython)
sys.modules["ipykernel.zmqshell"] = types.ModuleType("ipykernel.zmqshell")
sys.modules["ipywidgets"] = None  # `import ipywidgets` now raises ImportError
warnings.simplefilter("always")
warnings.showwarning = lambda message, *a, **k: print("WARNING:", message)
"""


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": ""}, check=False)


def test_tqdm_auto_alone_warns_in_a_kernel_without_ipywidgets():
    """The problem the factory exists for (if tqdm stops warning, this test can go)."""
    res = _run(KERNEL_WITHOUT_IPYWIDGETS + "from tqdm.auto import tqdm\n")
    assert res.returncode == 0, res.stderr
    assert "WARNING: IProgress not found" in res.stdout


def test_progress_bar_falls_back_quietly_without_ipywidgets():
    res = _run(KERNEL_WITHOUT_IPYWIDGETS + """
from prismtools._progress import progress_bar
import tqdm.notebook, tqdm.std
bar = progress_bar(total=3, desc="x", disable=False, file=sys.stdout)
bar.update(3); bar.close()
assert isinstance(bar, tqdm.std.tqdm) and not isinstance(bar, tqdm.notebook.tqdm_notebook), type(bar)
print("ok")
""")
    assert res.returncode == 0, res.stderr
    assert "WARNING" not in res.stdout and res.stdout.strip().endswith("ok")


def test_progress_bar_uses_the_widget_bar_with_ipywidgets():
    import pytest

    pytest.importorskip("ipywidgets")
    res = _run("""
import sys, types, warnings
import IPython
sys.modules["ipykernel.zmqshell"] = types.ModuleType("ipykernel.zmqshell")
warnings.simplefilter("always")
warnings.showwarning = lambda message, *a, **k: print("WARNING:", message)
from prismtools._progress import tqdm_class
import tqdm.notebook
assert issubclass(tqdm_class(), tqdm.notebook.tqdm_notebook), tqdm_class()
print("ok")
""")
    assert res.returncode == 0, res.stderr
    assert "WARNING" not in res.stdout and res.stdout.strip().endswith("ok")


def test_progress_bar_follows_settings():
    import prismtools as pt
    from prismtools._progress import progress_bar

    old = pt.settings.progress
    try:
        pt.settings.progress = False
        assert progress_bar(total=2).disable
        pt.settings.progress = True
        assert not progress_bar(total=2, file=sys.stderr).disable
        assert progress_bar(total=2, disable=True).disable
    finally:
        pt.settings.progress = old


# tl/_prism.py is switched to the factory on another branch; drop it from here once that is merged.
_NOT_YET_SWITCHED: set[str] = set()


def test_no_module_imports_tqdm_directly():
    """Every bar goes through ``prismtools._progress`` (the quiet ``tqdm.auto`` fallback and ``pt.settings.progress``)."""
    import ast

    pkg = ROOT / "prismtools"
    offenders = []
    for path in sorted(pkg.rglob("*.py")):
        rel = path.relative_to(pkg).as_posix()
        if rel == "_progress.py" or rel in _NOT_YET_SWITCHED:
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            if any(n == "tqdm" or n.startswith("tqdm.") for n in names):
                offenders.append(f"{rel}:{node.lineno}")
    assert not offenders, f"import tqdm only in prismtools/_progress.py (use progress_bar/tqdm_class): {offenders}"
