"""Command line: ``prismtools build SPEC``, ``prismtools demo``, ``prismtools info STORE``."""

from __future__ import annotations

import argparse
import logging
import sys
from contextlib import contextmanager

logger = logging.getLogger(__name__)


@contextmanager
def _cli_logging(verbose: int):
    """Log to stderr while a command runs; restore the ``prismtools`` logger afterwards (main() may be called
    in-process, e.g. from tests or notebooks)."""
    from ._settings import settings

    log = logging.getLogger("prismtools")
    old = (settings.verbosity, log.propagate)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    settings.verbosity = min(3, 2 + verbose)
    log.addHandler(handler)
    log.propagate = False
    try:
        yield
    finally:
        log.removeHandler(handler)
        settings.verbosity, log.propagate = old


def _cmd_build(args) -> int:
    from .pp._spec import EXAMPLE, build

    if args.example:
        print(EXAMPLE)
        return 0
    if not args.spec:
        print("prismtools build: give a SPEC file (see `prismtools build --example`).", file=sys.stderr)
        return 2
    adata = build(args.spec, output=args.output, overwrite=args.overwrite)
    print(adata)
    return 0


def _cmd_info(args) -> int:
    from . import io
    from ._core import get_window, track_table

    left = io.leftovers(args.store)
    if left:
        print(f"leftovers of interrupted writes ({len(left)}; the next successful write removes them):")
        for p in left[:20]:
            print(f"  {p}")
        if len(left) > 20:
            print(f"  ... and {len(left) - 20} more")
    adata = io.read(args.store)
    if args.verify:
        res = io.verify(args.store)
        print(f"verified: {res['arrays']} arrays, {res['chunks']} chunks, {res['bytes'] / 2**20:.1f} MiB decoded, "
              "all checksums match")
    print(adata)
    win = get_window(adata, required=False)
    if win:
        print(f"window: {win['width']} bp, bin {win['bin_size']} bp, assembly {win.get('assembly') or '?'}, "
              f"orientation {win['orientation']}")
    tab = track_table(adata)
    if len(tab):
        print(tab.to_string())
    return 0


def _cmd_demo(args) -> int:
    from .demo import run_demo

    run_demo(out=args.out, quick=args.quick)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="prismtools", description=__doc__)
    parser.add_argument("-v", "--verbose", action="count", default=0)
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build a zarr dataset from a YAML/TOML spec")
    b.add_argument("spec", nargs="?")
    b.add_argument("-o", "--output", help="output store (overrides the spec)")
    b.add_argument("--overwrite", action="store_true")
    b.add_argument("--example", action="store_true", help="print an example spec and exit")
    b.set_defaults(func=_cmd_build)
    i = sub.add_parser("info", help="summarise a dataset store")
    i.add_argument("store")
    i.add_argument("--verify", action="store_true", help="read every chunk and check its checksum")
    i.set_defaults(func=_cmd_info)
    d = sub.add_parser("demo", help="end-to-end run on the bundled K562 data (no downloads)")
    d.add_argument("--out", default="prismtools_demo", help="folder for the results table and figure")
    d.add_argument("--quick", action="store_true", help="a much shorter run (for tests)")
    d.set_defaults(func=_cmd_demo)
    args = parser.parse_args(argv)
    from . import io
    with _cli_logging(args.verbose):
        try:
            return int(args.func(args) or 0)
        except (FileNotFoundError, FileExistsError, ValueError, KeyError, io.StoreError) as err:
            print(f"prismtools {args.command}: error: {err}", file=sys.stderr)
            return 1


if __name__ == "__main__":
    sys.exit(main())
