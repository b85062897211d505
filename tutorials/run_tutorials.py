"""Execute the tutorials from their sources and keep the committed notebooks in step with them.

Each tutorial is a pair in this folder: ``NN_name.py``, the source in jupytext's percent format (the file you
edit, review and lint), and ``NN_name.ipynb``, generated from it and committed **executed**, so that the
repository page and the docs show its tables and figures.

    nox -s tutorials                                  # refresh every notebook (the one-liner)
    python tutorials/run_tutorials.py                 # the same, without nox
    python tutorials/run_tutorials.py 02_fit_prism    # only some (names or paths)
    python tutorials/run_tutorials.py --check         # exit 1 if a committed notebook is stale (no execution)
    python tutorials/run_tutorials.py --text-only 03  # copy edited text cells only, keeping the outputs

A refresh converts the source to a notebook with jupytext, executes it top to bottom in a fresh ``python3``
kernel in a temporary folder (stores and figures never land in the repository) that imports this checkout,
and writes ``NN_name.ipynb`` with its outputs. ``tests/test_docs_tutorials.py`` uses the same functions: it
executes every source and fails when a committed notebook is stale (see :func:`stale`).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHARED = ROOT.parent / "shared" / "data"

#: whole-notebook time limit in seconds for a tutorial not listed in ``LIMITS``
DEFAULT_LIMIT = 600
#: per-tutorial limits (they take about 20 s, 100 s and 70 s on a busy 2-core CPU)
LIMITS = {"01_build_dataset": 300, "02_fit_prism": 600, "03_analyses": 600, "04_from_scanpy": 600}
#: a committed notebook larger than this is refused: keep figures small (dpi ~80) and outputs short
MAX_NOTEBOOK_BYTES = 1_500_000
KERNEL = {"display_name": "Python 3", "language": "python", "name": "python3"}


def sources() -> list[Path]:
    """Every tutorial source, ``tutorials/NN_name.py``, in order (new ones are picked up by their name)."""
    return sorted(HERE.glob("[0-9][0-9]_*.py"))


def notebook_path(source: Path) -> Path:
    return source.with_suffix(".ipynb")


def to_notebook(source: Path):
    """The notebook that ``source`` describes (no outputs), with stable cell ids so refreshes diff cleanly."""
    import jupytext

    nb = jupytext.read(source)
    nb.metadata.pop("jupytext", None)
    nb.metadata["kernelspec"] = dict(KERNEL)
    nb.metadata["language_info"] = {"name": "python"}
    stem = source.stem.split("_", 1)[0]
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"t{stem}-{i:02d}"
        cell["metadata"] = {}
    return nb


def kernel_env(shared: str | Path | None = "auto") -> dict[str, str]:
    """Environment for the kernel: this checkout first on ``PYTHONPATH``, inline figures, where the data are.

    ``shared="auto"`` keeps ``$PRISMTOOLS_SHARED_DATA`` when set, else uses ``../shared/data`` next to the
    repository when it exists; ``None`` forces the tutorials' simulated fallback.
    """
    env = {
        "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    }
    if shared == "auto":
        shared = os.environ.get("PRISMTOOLS_SHARED_DATA") or (SHARED if SHARED.is_dir() else None)
    env["PRISMTOOLS_SHARED_DATA"] = "none" if shared is None else str(shared)
    return env


def execute(nb, *, workdir: Path, limit: int, env: dict[str, str] | None = None):
    """Run ``nb`` in place in a fresh ``python3`` kernel with cwd ``workdir``, at most ``limit`` s in all.

    nbclient's ``timeout`` is per cell; setting it before every cell to what is left of the budget bounds the
    whole notebook, and a timeout is handled by nbclient itself (kernel interrupted, ``CellTimeoutError``).
    Returns the wall time in seconds.
    """
    from nbclient import NotebookClient

    class DeadlineClient(NotebookClient):
        deadline = 0.0

        async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
            self.timeout = max(1, int(self.deadline - time.monotonic()))
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)

    saved = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})  # the kernel inherits this process's environment
    try:
        client = DeadlineClient(nb, timeout=limit, kernel_name="python3",
                                resources={"metadata": {"path": str(workdir)}})
        client.deadline = time.monotonic() + limit
        t0 = time.perf_counter()
        client.execute()
        return time.perf_counter() - t0
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def write(nb, path: Path) -> None:
    import nbformat

    nbformat.validate(nb)
    path.write_text(nbformat.writes(nb) + "\n")


def refresh(source: Path, *, shared: str | Path | None = "auto") -> float:
    """Execute ``source`` in a temporary folder and write its notebook with outputs; return the seconds taken."""
    nb = to_notebook(source)
    with tempfile.TemporaryDirectory(prefix=f"prismtools-{source.stem}-") as tmp:
        seconds = execute(nb, workdir=Path(tmp), limit=LIMITS.get(source.stem, DEFAULT_LIMIT), env=kernel_env(shared))
    for cell in nb.cells:  # nbclient records timings in cell metadata; they only make diffs noisy
        cell["metadata"] = {}
    write(nb, notebook_path(source))
    return seconds


def update_text(source: Path) -> None:
    """Copy the markdown cells of ``source`` into its committed notebook, keeping every output.

    For prose edits only: the code cells (and the order of cell types) must be unchanged, otherwise the
    outputs would no longer belong to the code and a full refresh is needed.
    """
    import nbformat

    path = notebook_path(source)
    fresh, committed = to_notebook(source), nbformat.read(path, as_version=4)
    shape = [(c.cell_type, c.source.strip() if c.cell_type == "code" else "") for c in fresh.cells]
    if shape != [(c.cell_type, c.source.strip() if c.cell_type == "code" else "") for c in committed.cells]:
        raise SystemExit(f"{source.name}: code cells changed; run a full refresh (`nox -s tutorials -- {source.stem}`)")
    for new, old in zip(fresh.cells, committed.cells):
        if new.cell_type == "markdown":
            old.source = new.source
    write(committed, path)


def _cells(nb) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source.strip()) for c in nb.cells]


def stale(source: Path, notebook: Path | None = None) -> list[str]:
    """Why the committed notebook of ``source`` does not match it (an empty list when it does).

    Compared: the cells (type and text of every markdown and code cell, in order) against what jupytext makes
    of the source; and that the notebook is *executed*: every code cell has an execution count, the counts
    run 1, 2, 3, ... (one top-to-bottom run), no cell holds an error, and the notebook has outputs. Numbers in
    the outputs are not compared (they differ from run to run); the slow tests check, after a fresh run,
    that every cell that produces output has output in the committed notebook (:func:`missing_outputs`).
    """
    import nbformat

    notebook = notebook or notebook_path(source)
    refresh_hint = f"run `nox -s tutorials` (or `python tutorials/run_tutorials.py {source.stem}`)"
    if not notebook.is_file():
        return [f"{notebook.name} does not exist; {refresh_hint}"]
    committed = nbformat.read(notebook, as_version=4)
    problems = []
    want, have = _cells(to_notebook(source)), _cells(committed)
    if want != have:
        first = next((i for i, (a, b) in enumerate(zip(want, have)) if a != b), min(len(want), len(have)))
        problems.append(f"{notebook.name} differs from {source.name} from cell {first} on "
                        f"({len(want)} cells in the source, {len(have)} in the notebook); {refresh_hint}")
    code = [c for c in committed.cells if c.cell_type == "code"]
    counts = [c.get("execution_count") for c in code]
    if counts != list(range(1, len(code) + 1)):
        shown = counts if len(counts) <= 8 else [*counts[:8], "..."]
        problems.append(f"{notebook.name} is not executed top to bottom in one run (execution counts {shown}); "
                        f"{refresh_hint}")
    errors = [o.get("ename") for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    if errors:
        problems.append(f"{notebook.name} has error outputs {errors}; fix the source, then {refresh_hint}")
    if code and not any(c.get("outputs") for c in code):
        problems.append(f"{notebook.name} has no outputs; {refresh_hint}")
    size = notebook.stat().st_size
    if size > MAX_NOTEBOOK_BYTES:
        problems.append(f"{notebook.name} is {size / 1e6:.1f} MB (limit {MAX_NOTEBOOK_BYTES / 1e6:.1f} MB): "
                        "make its figures smaller (dpi, figsize) or its printed tables shorter")
    return problems


def _results(cell) -> list:
    """A cell's printed text and displayed values; stderr (warnings, first-run notices such as a font cache
    being built) is left out, since it depends on the machine rather than on the tutorial."""
    return [o for o in cell.get("outputs", []) if o.get("output_type") in ("execute_result", "display_data")
            or (o.get("output_type") == "stream" and o.get("name") == "stdout")]


def _kinds(cell) -> set[str]:
    kinds = set()
    for o in _results(cell):
        if o.get("output_type") == "stream":
            kinds.add("stream")
        kinds.update(k for k in o.get("data", {}) if k.startswith("image/"))
    return kinds


def missing_outputs(fresh, committed) -> list[str]:
    """Cells whose fresh run printed text or drew a figure that the committed notebook lacks."""
    out = []
    for i, (a, b) in enumerate(zip(fresh.cells, committed.cells)):
        if a.cell_type != "code":
            continue
        if _results(a) and not _results(b):
            out.append(f"cell {i}: has outputs when run, none committed")
        elif lacking := sorted(_kinds(a) - _kinds(b)):
            out.append(f"cell {i}: {lacking} output when run, not committed")
    return out


def _select(names: list[str]) -> list[Path]:
    if not names:
        return sources()
    chosen = []
    for name in names:
        stem = Path(name).stem
        match = [s for s in sources() if s.stem == stem or s.stem.startswith(stem + "_") or s.stem.split("_")[0] == stem]
        if not match:
            raise SystemExit(f"no tutorial source matches {name!r}; sources: {[s.name for s in sources()]}")
        chosen += match
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="tutorials to refresh (default: all), e.g. 02 or 02_fit_prism")
    parser.add_argument("--check", action="store_true", help="only check that the committed notebooks are current")
    parser.add_argument("--text-only", action="store_true",
                        help="copy edited markdown cells into the notebooks, keeping outputs (code unchanged)")
    parser.add_argument("--simulated", action="store_true", help="force the simulated fallback (no ../shared/data)")
    args = parser.parse_args(argv)
    status = 0
    for source in _select(args.names):
        if args.check:
            problems = stale(source)
            for p in problems:
                print(p)
            status |= bool(problems)
            continue
        if args.text_only:
            update_text(source)
            print(f"updated the text cells of {notebook_path(source).relative_to(ROOT)}")
            continue
        print(f"executing {source.name} ...", flush=True)
        seconds = refresh(source, shared=None if args.simulated else "auto")
        problems = stale(source)
        print(f"wrote {notebook_path(source).relative_to(ROOT)} ({seconds:.0f} s)" + "".join(f"\n  {p}" for p in problems))
        status |= bool(problems)
    return status


if __name__ == "__main__":
    sys.exit(main())
