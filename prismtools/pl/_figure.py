"""Shared figure handling for ``pt.pl``: ``ax=``, ``show=``, ``save=`` as in scanpy."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import matplotlib.pyplot as plt

logger = logging.getLogger(__name__)


def finish(fig, axes, *, show: bool | None, save: str | os.PathLike | bool | None, default_name: str):
    """Save (``save=True`` -> ``figures/<default_name>.png``, or a path) and show; return axes unless shown."""
    if save:
        path = Path("figures") / f"{default_name}.png" if save is True else Path(save)
        if not path.suffix:
            path = path.with_suffix(".png")
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=150, bbox_inches="tight")
        logger.info("saved figure to %s", path)
    if show is None:
        show = plt.get_backend().lower() not in ("agg", "pdf", "svg", "ps", "cairo", "template") and not save
    if show:
        plt.show()
        return None
    return axes
