"""prismtools.models: the Prism network in plain torch (BiMamba backbone, confounder encoder, losses).

Importing this subpackage imports torch.
"""

from .confounder import ConfounderEncoder
from .losses import prism_loss, uniformity_loss
from .mamba import BiMambaBackbone
from .prism import PrismNet
from .scan import (
    selective_scan,
    selective_scan_chunked,
    selective_scan_loop,
    selective_scan_numba,
    selective_scan_ref,
)

__all__ = [
    "PrismNet",
    "ConfounderEncoder",
    "BiMambaBackbone",
    "selective_scan",
    "selective_scan_ref",
    "selective_scan_chunked",
    "selective_scan_loop",
    "selective_scan_numba",
    "uniformity_loss",
    "prism_loss",
]
