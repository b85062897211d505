"""Progress bars for long work: one ``tqdm.auto`` factory for the whole package.

In a Jupyter kernel ``tqdm.auto`` draws a widget bar when ``ipywidgets`` is installed (``pip install
"prismtools[notebook]"``). Without ``ipywidgets`` it falls back to the text bar; tqdm then also warns
"IProgress not found" on every import, which :func:`progress_bar` silences, so the fallback is quiet.
"""

from __future__ import annotations

import warnings

from ._settings import settings


def tqdm_class() -> type:
    """``tqdm.auto.tqdm``: the widget bar in a notebook with ``ipywidgets``, the text bar otherwise."""
    from tqdm import TqdmWarning

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="IProgress not found", category=TqdmWarning)
        from tqdm.auto import tqdm
    return tqdm


def progress_bar(iterable=None, *, total: int | None = None, desc: str | None = None, unit: str = "it",
                 disable: bool | None = None, **kwargs):
    """A ``tqdm.auto`` progress bar, shown unless ``pt.settings.progress`` is ``False``.

    Parameters
    ----------
    iterable, total, desc, unit, **kwargs
        As for :class:`tqdm.tqdm`.
    disable
        ``None`` (default): hide the bar when ``pt.settings.progress`` is ``False``.

    Examples
    --------
    >>> from prismtools._progress import progress_bar
    >>> with progress_bar(total=3, desc="chunks", disable=True) as bar:
    ...     for _ in range(3):
    ...         _ = bar.update(1)
    >>> bar.disable
    True
    """
    if disable is None:
        disable = not settings.progress
    return tqdm_class()(iterable, total=total, desc=desc, unit=unit, disable=disable, **kwargs)
