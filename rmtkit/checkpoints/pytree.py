"""Models in memory: a Flax NNX module or state, a Linen params pytree, a (nested) mapping of arrays."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rmtkit.checkpoints.validation import CheckpointError
from rmtkit.matrices import path_name


def flatten_tree(tree: Any, sep: str = ".") -> dict[str, Any]:
    """Flatten a nested mapping / pytree of arrays into ``{"a.b.c": leaf}`` (:func:`rmtkit.matrices.path_name`)."""
    import jax

    leaves = jax.tree_util.tree_flatten_with_path(tree, is_leaf=lambda x: hasattr(x, "shape") and hasattr(x, "dtype"))[0]
    out = {}
    for path, leaf in leaves:
        name = path_name(path, sep)  # NNX states end in a Variable's ``value``: left out of names
        if name in out:  # {"a": {"b": x}} and {"a.b": y} both flatten to "a.b": one would be lost
            raise CheckpointError(f"two tensors flatten to the same name {name!r} (nested keys joined by {sep!r} "
                                  "collide with a key that contains it)")
        out[name] = leaf
    return out


def read_model(source: Any) -> dict[str, Any]:
    """``{name: array}`` of a model in memory (an NNX module gives its ``nnx.Param`` state).

    Raises:
        CheckpointError: ``source`` has no array leaves, or is not a model at all.
    """
    try:
        from flax import nnx
    except ImportError:  # pragma: no cover - flax is a dependency
        nnx = None
    if nnx is not None and isinstance(source, nnx.Module):
        source = nnx.state(source, nnx.Param)
    if isinstance(source, Mapping) or _is_pytree(source):
        flat = flatten_tree(source)
        if not flat:
            raise CheckpointError("the model has no array leaves")
        return flat
    raise CheckpointError(f"cannot read weights from a {type(source).__name__}")


def _is_pytree(x: Any) -> bool:
    import jax

    return len(jax.tree_util.tree_leaves(x)) > 0
