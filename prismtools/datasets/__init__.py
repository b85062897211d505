"""Bundled and synthetic datasets."""

from ._toy import toy

__all__ = ["toy"]
