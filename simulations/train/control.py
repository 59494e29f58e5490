"""Spectral control of training: rmtkit.optim's transformations as an optimizer option of the suite.

``optimizer.name`` is ``<base>`` or ``<base>+<control>``: ``sgd+tempbalance``, ``adam+alphadecay``, ...
(a name, not a new config field, so that the configs of earlier runs, and their resume checks, are
unchanged). The exponents are refreshed once per epoch (``K = steps_per_epoch``, as [TB] does).

- ``tempbalance``: the base optimiser's updates times a factor in [0.5, 1.5] per matrix (TempBalance's
  defaults: linear map, Hill exponent at the median, matrices with >= 50 eigenvalues; docs/theory.md#control).
- ``alphadecay``: ``5e-4 * r_l * W`` added to the gradient before the base optimiser (L2-coupled, as
  PyTorch's ``weight_decay`` of SGD and Adam), ``r_l`` in [2/3, 5] per matrix (AlphaDecay's ratios);
  other leaves (biases, BatchNorm) decayed at 5e-4. This is on top of ``optimizer.weight_decay`` (the
  suite's explicit per-layer L2 in the loss), which the comparison runs leave empty.
- ``weightdecay``: ``5e-4 * W`` added to the gradient of every leaf, the same coupling: uniform weight
  decay at AlphaDecay's base value, the baseline AlphaDecay is compared with in its paper (so that a
  gain of ``alphadecay`` over plain SGD can be told apart from a gain of weight decay as such).
"""

from __future__ import annotations

import optax

from rmtkit.optim import alpha_decay, temperature_balance

CONTROLS = ("", "tempbalance", "alphadecay", "weightdecay")
#: Base weight decay of ``alphadecay`` (TempBalance's and common CIFAR/Fashion-MNIST SGD setting).
ALPHA_DECAY_BASE = 5e-4


def split_name(name: str) -> tuple[str, str]:
    """``"sgd+tempbalance"`` -> ``("sgd", "tempbalance")``; ``"sgd"`` -> ``("sgd", "")``."""
    base, _, control = name.partition("+")
    if control not in CONTROLS:
        raise ValueError(f"unknown control {control!r} in optimizer {name!r}; choose one of {CONTROLS[1:]}")
    return base, control


def with_control(tx: optax.GradientTransformation, control: str, steps_per_epoch: int) -> optax.GradientTransformation:
    """``tx`` with the spectral control ``control`` ("" leaves it as it is)."""
    if control == "tempbalance":
        return optax.chain(tx, temperature_balance(steps_per_epoch))
    if control == "alphadecay":
        return optax.chain(alpha_decay(ALPHA_DECAY_BASE, steps_per_epoch), tx)
    if control == "weightdecay":
        return optax.chain(optax.add_decayed_weights(ALPHA_DECAY_BASE), tx)
    return tx
