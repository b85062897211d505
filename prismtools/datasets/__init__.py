"""Bundled real data (``k562``) and synthetic data (``toy``)."""

from ._geneexp import read_geneexp
from ._k562 import data_path, k562
from ._simulate import SimulatedGenome, simulate
from ._toy import toy

__all__ = ["k562", "toy", "data_path", "simulate", "SimulatedGenome", "read_geneexp"]
