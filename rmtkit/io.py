"""Former home of checkpoint reading and results writing, kept so that ``rmtkit.io.<name>`` still works.

New code imports from :mod:`rmtkit.checkpoints` (weights in), :mod:`rmtkit.results` (results out
and back) and :mod:`rmtkit.atomic`; this module only re-exports their names.
"""

from rmtkit.atomic import write_atomically
from rmtkit.checkpoints import (
    CheckpointError,
    LazyArray,
    LazyTensor,
    UnsupportedTensor,
    flatten_tree,
    load_weights,
    read_safetensors,
    write_safetensors,
)
from rmtkit.results import read_results, results_metadata, results_sidecar, write_results

__all__ = ["CheckpointError", "LazyArray", "LazyTensor", "UnsupportedTensor", "flatten_tree", "load_weights",
           "read_results", "read_safetensors", "results_metadata", "results_sidecar", "write_atomically",
           "write_results", "write_safetensors"]
