"""Figures (matplotlib), scanpy-style: ``ax=``, ``show=``, ``save=``; axes are returned when not shown."""

from ._analyses import attribution_profile, length_curve, signal_ablation, tracks
from ._predictions import predicted_vs_observed, training_history
from ._stratum import stratum_effects
from ._whatif import perturbation, variant_effects

__all__ = [
    "stratum_effects",
    "predicted_vs_observed",
    "training_history",
    "length_curve",
    "signal_ablation",
    "attribution_profile",
    "tracks",
    "variant_effects",
    "perturbation",
]
