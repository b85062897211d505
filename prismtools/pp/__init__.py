"""Building and preprocessing: genes, expression, windows, sequence, tracks, Hi-C, covariates, splits."""

from ._bigwig import add_track
from ._covariates import add_covariates
from ._expression import add_expression, pseudobulk
from ._genes import read_genes
from ._hic import add_hic
from ._hic_features import add_hic_profiles, add_juicer_hic
from ._normalize import normalize_tracks
from ._sequence import add_sequence
from ._spec import build
from ._split import split_blocks, split_chromosomes, split_folds
from ._table_track import add_table_track
from ._validate import InputFileError
from ._window import crop_window, set_window

__all__ = [
    "read_genes",
    "add_expression",
    "pseudobulk",
    "set_window",
    "crop_window",
    "add_sequence",
    "add_track",
    "add_table_track",
    "add_hic",
    "add_hic_profiles",
    "add_juicer_hic",
    "add_covariates",
    "normalize_tracks",
    "split_chromosomes",
    "split_folds",
    "split_blocks",
    "build",
    "InputFileError",
]
