"""One batch convention (rmtkit.batch): padding, masks, lengths, and every batched function following them."""

from __future__ import annotations

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rmtkit
from rmtkit import metrics
from rmtkit.batch import (
    as_float,
    batch_lengths,
    fill_padding,
    pad_spectra,
    reject_batch_arguments,
    valid_mask,
)


def test_pad_spectra_stacks_ragged_rows():
    evals, lengths = pad_spectra([np.array([3.0, 1.0]), np.array([5.0]), np.array([2, 4, 6])], width=4, fill=-1.0)
    assert evals.tolist() == [[3.0, 1.0, -1.0, -1.0], [5.0, -1.0, -1.0, -1.0], [2.0, 4.0, 6.0, -1.0]]
    assert lengths.tolist() == [2, 1, 3] and lengths.dtype == np.int64 and evals.dtype == np.float64
    assert pad_spectra([np.ones(2, np.float32)])[0].dtype == np.float32
    with pytest.raises(ValueError, match="shorter than the longest"):
        pad_spectra([np.ones(3)], width=2)
    with pytest.raises(ValueError, match="1-D"):
        pad_spectra([np.ones((2, 2))])
    with pytest.raises(ValueError, match="at least one"):
        pad_spectra([])


def test_valid_mask_and_lengths_agree():
    expected = np.array([[True, True, False], [False, False, False], [True, True, True]])
    assert valid_mask((3, 3), lengths=[2, 0, 3]).tolist() == expected.tolist()
    assert valid_mask((3, 3), mask=expected).tolist() == expected.tolist()
    assert valid_mask((2, 2)).tolist() == [[True, True], [True, True]]
    assert batch_lengths((3, 3), mask=expected).tolist() == [2, 0, 3]
    assert batch_lengths((3, 3), lengths=np.array([2.0, 0.0, 3.0])).tolist() == [2, 0, 3]
    assert batch_lengths((2, 5)).tolist() == [5, 5]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(lengths=[1, 1], mask=np.ones((2, 3), bool)), "either mask or lengths"),
        (dict(mask=np.ones((2, 4), bool)), r"mask shape \(2, 4\) does not match evals shape \(2, 3\)"),
        (dict(lengths=[1, 2, 3]), r"lengths must have shape \(2,\)"),
        (dict(lengths=[1, 4]), r"lengths must lie in \[0, 3\]"),
        (dict(lengths=[-1, 2]), r"lengths must lie in \[0, 3\]"),
        (dict(lengths=[1.5, 2]), "lengths must be integers"),
    ],
)
def test_valid_mask_refuses(kwargs, match):
    with pytest.raises(ValueError, match=match):
        valid_mask((2, 3), **kwargs)


def test_batch_lengths_needs_a_prefix_mask():
    with pytest.raises(ValueError, match="leading entries"):
        batch_lengths((1, 3), mask=[[True, False, True]])


def test_masks_are_traceable():
    expected = [[True, False, False], [True, True, True]]
    traced = jax.jit(lambda n: valid_mask((2, 3), lengths=n))(jnp.array([1, 3]))
    assert isinstance(traced, jax.Array) and traced.tolist() == expected
    counts = jax.jit(lambda m: batch_lengths((2, 3), mask=m))(jnp.array(expected))
    assert counts.tolist() == [1, 3]


def test_fill_padding():
    x = np.array([[1.0, 2.0, 9.0], [4.0, 9.0, 9.0]])
    assert fill_padding(x, lengths=[2, 1]).tolist() == [[1.0, 2.0, 0.0], [4.0, 0.0, 0.0]]
    assert fill_padding(x, -1.0, mask=x < 5).tolist() == [[1.0, 2.0, -1.0], [4.0, -1.0, -1.0]]
    assert jax.jit(lambda n: fill_padding(x, lengths=n))(jnp.array([3, 0])).tolist() == [[1.0, 2.0, 9.0], [0.0] * 3]
    assert fill_padding(x[0], lengths=1).tolist() == [1.0, 0.0, 0.0]  # one spectrum: a scalar length
    with pytest.raises(ValueError, match=r"lengths must have shape \(2,\)"):
        fill_padding(x, lengths=[1, 2, 3])


def test_as_float_is_the_one_cast():
    assert as_float(np.arange(3)).dtype == np.float64 and isinstance(as_float([1, 2]), np.ndarray)
    assert as_float(np.ones(2, np.float32)).dtype == np.float32
    out = as_float(np.arange(3), jnp)
    assert isinstance(out, jax.Array) and out.dtype == jnp.float64  # the suite runs in float64
    assert as_float(jnp.ones(2, jnp.float32), jnp).dtype == jnp.float32


def test_one_spectrum_refuses_batch_arguments():
    with pytest.raises(ValueError, match="batched"):
        reject_batch_arguments([3], None)
    with pytest.raises(ValueError, match="batched"):
        rmtkit.fit_power_law(np.arange(1.0, 30.0), lengths=[29])


BATCHED = [rmtkit.fit_marchenko_pastur, rmtkit.fit_power_law, metrics.lambda_max, metrics.hard_rank,
           metrics.matrix_entropy, metrics.stable_rank, metrics.log_norm, metrics.log_spectral_norm,
           metrics.log_alpha_norm]


@pytest.mark.parametrize("fn", BATCHED, ids=lambda f: f.__name__)
def test_every_batched_function_has_the_same_signature(fn):
    params = inspect.signature(fn).parameters
    assert next(iter(params)) == "evals"
    for name in ("lengths", "mask"):
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY and params[name].default is None


@pytest.mark.slow
def test_lengths_and_mask_mean_the_same_everywhere():
    # Two spectra in one padded batch, the padding filled with garbage: lengths= and the equivalent
    # mask= give the same numbers, and each row equals its spectrum fitted or measured alone.
    rng = np.random.default_rng(0)
    rows = [np.sort(rng.pareto(1.5, 60) + 1), np.sort(rng.pareto(2.5, 45) + 1)]
    evals, lengths = pad_spectra(rows, fill=123.0)
    mask = valid_mask(evals.shape, lengths=lengths)
    by_len = rmtkit.fit_power_law(evals, lengths=lengths, method="csn")
    by_mask = rmtkit.fit_power_law(evals, mask=mask, method="csn")
    np.testing.assert_array_equal(np.asarray(by_len.alpha), np.asarray(by_mask.alpha))
    assert float(by_len.xmin[1]) == float(rmtkit.fit_power_law(rows[1], method="csn").xmin)
    mp_len = rmtkit.fit_marchenko_pastur(evals, 2.0, lengths=lengths)
    mp_mask = rmtkit.fit_marchenko_pastur(evals, 2.0, mask=mask)
    np.testing.assert_array_equal(np.asarray(mp_len.sigma), np.asarray(mp_mask.sigma))
    assert [int(v) for v in mp_len.num_bulk + mp_len.num_spikes] == [60, 45]
    for fn, by_hand in [(metrics.lambda_max, np.max), (metrics.stable_rank, lambda r: r.sum() / r.max()),
                        (metrics.log_norm, lambda r: np.log10(r.sum()))]:
        np.testing.assert_allclose(np.asarray(fn(evals, lengths=lengths)), [by_hand(r) for r in rows], rtol=1e-12)
        np.testing.assert_array_equal(np.asarray(fn(evals, lengths=lengths)), np.asarray(fn(evals, mask=mask)))
    ranks = metrics.hard_rank(evals, 100, 60, lengths=lengths)
    assert ranks.tolist() == [60, 45]
    jitted = jax.jit(lambda e, n: metrics.stable_rank(e, lengths=n))(evals, lengths)
    np.testing.assert_allclose(np.asarray(jitted), [r.sum() / r.max() for r in rows], rtol=1e-12)


def test_fit_by_width_groups_rows_and_keeps_their_order():
    from typing import NamedTuple

    from rmtkit.batch import fit_by_width

    class Seen(NamedTuple):
        width: np.ndarray
        total: np.ndarray

    calls = []

    def fake_fit(evals, *, lengths, scale):
        calls.append(evals.shape)
        valid = np.arange(evals.shape[1]) < lengths[:, None]
        return Seen(np.full(len(lengths), evals.shape[1]), scale * np.where(valid, evals, 0).sum(1))

    lengths = np.array([10, 300, 70, 5000, 64])
    evals, _ = pad_spectra([np.arange(1.0, n + 1) for n in lengths])
    out = fit_by_width(fake_fit, evals, lengths, scale=2.0)
    np.testing.assert_array_equal(out.width, [64, 512, 128, 5000, 64])  # next power of two, at most the batch's
    np.testing.assert_array_equal(out.total, [n * (n + 1) for n in lengths])  # 2 x (1 + ... + n), row order kept
    assert sorted(calls) == [(1, 128), (1, 512), (1, 5000), (2, 64)]
    calls.clear()
    fit_by_width(fake_fit, evals[:2, :300], lengths[:2], scale=1.0, min_width=512)
    assert calls == [(2, 300)]  # one group: one call over the whole batch


def test_fit_by_width_gives_the_padded_batch_fit():
    from rmtkit import fit_power_law
    from rmtkit.batch import fit_by_width

    rng = np.random.default_rng(3)
    evals, lengths = pad_spectra([np.sort(rng.pareto(1.5, 40) + 1), np.sort(rng.pareto(2.0, 700) + 1)])
    padded = fit_power_law(evals, lengths=lengths, method="csn")
    grouped = fit_by_width(fit_power_law, evals, lengths, method="csn")
    for name in padded._fields:  # equal up to the order of XLA's sums over the padding (1e-15 relative)
        np.testing.assert_allclose(np.asarray(getattr(grouped, name), float), np.asarray(getattr(padded, name), float),
                                   rtol=1e-13, err_msg=name)
