"""Validation shared by the builders: numeric user inputs, and library failures turned into errors naming the file."""

from __future__ import annotations

import numbers
import os
from contextlib import contextmanager

import numpy as np


class InputFileError(ValueError):
    """An input file cannot be used as given. The message names the file, what is wrong, and what to do.

    Examples
    --------
    >>> import prismtools as pt
    >>> with open("empty.gtf", "w") as fh:
    ...     _ = fh.write("# a header and no records\\n")
    >>> pt.pp.read_genes("empty.gtf")
    Traceback (most recent call last):
    ...
    prismtools.pp._validate.InputFileError: 'empty.gtf' is empty: no records (only comments or blank lines). ...

    It is a :class:`ValueError`, so code that catches bad values catches it too:

    >>> issubclass(pt.pp.InputFileError, ValueError)
    True
    """


def as_int(value, name: str, *, minimum: int | None = 1, even: bool = False) -> int:
    """``value`` as a Python ``int``, or a clear error naming ``name``.

    Accepts Python/NumPy integers and integral floats (``2000.0``); refuses fractions (``2000.7`` is never
    truncated), strings (``"2kb"``), booleans, NaN and infinities. ``minimum`` is inclusive; ``even`` requires an
    even number.
    """
    bad = None
    if isinstance(value, (bool, np.bool_)):
        bad = "a boolean"
    elif isinstance(value, numbers.Integral):
        out = int(value)
    elif isinstance(value, numbers.Real):
        f = float(value)
        if not np.isfinite(f):
            bad = f"{value!r}"
        elif f != round(f):
            raise ValueError(f"{name} must be a whole number of bp, got {value!r}; pass {name}={round(f)} if that is what "
                             "you mean (it is never truncated silently).")
        else:
            out = int(f)
    else:
        bad = f"{type(value).__name__} {value!r}"
    if bad is not None:
        hint = ""
        if isinstance(value, str):
            hint = f" Pass a number of bp, e.g. {name}={_parse_hint(value)}." if _parse_hint(value) else " Pass a number."
        raise TypeError(f"{name} must be an integer, got {bad}.{hint}")
    if minimum is not None and out < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {out}.")
    if even and out % 2:
        raise ValueError(f"{name} must be even, got {out}.")
    return out


def _parse_hint(text: str) -> int | None:
    """``"2kb"`` -> 2000, ``"1Mb"`` -> 1000000 (only to suggest the right call, never applied silently)."""
    t = text.strip().lower().replace("_", "").replace(",", "")
    for suffix, mult in (("mb", 1_000_000), ("kb", 1000), ("bp", 1), ("m", 1_000_000), ("k", 1000), ("", 1)):
        if t.endswith(suffix):
            try:
                v = float(t[: len(t) - len(suffix)]) * mult
            except ValueError:
                continue
            return int(v) if v == int(v) else None
    return None


@contextmanager
def reading(path, what: str, *, errors=(RuntimeError, OSError, ValueError, KeyError, IndexError)):
    """Turn a library failure while reading ``path`` into an :class:`InputFileError` naming it.

    Used around the reads inside builder blocks, where pyBigWig says only "An error occurred while fetching
    values!" and h5py "filter returned failure during read".
    """
    try:
        yield
    except InputFileError:
        raise
    except errors as err:
        raise InputFileError(
            f"{os.fspath(path)!r}: reading {what} failed ({type(err).__name__}: {err}). The file is probably "
            "corrupt or truncated (a partial download?); check its size/checksum and download or regenerate it."
        ) from err
