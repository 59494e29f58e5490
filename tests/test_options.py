"""One schema of options (issue 26, part 4): AnalyzeOptions holds the defaults and the choices; the CLI's flags
and the zoo's config are derived from it; the estimators are one registry in rmtkit.powerlaw that optim reads."""

from __future__ import annotations

import dataclasses
import inspect

import jax
import numpy as np
import pytest

import rmtkit
from rmtkit import optim, powerlaw
from rmtkit.analysis import AnalyzeOptions, option_choices
from rmtkit.cli import OPTION_FLAGS, _parser, analyze_options
from rmtkit.layers import CONV_LAYOUTS, LAYER_TYPES
from simulations.zoo.config import ZooAnalysisConfig


def _flags() -> dict:
    sub = next(a for a in _parser()._actions if a.dest == "command")
    return {opt: action for action in sub.choices["analyze"]._actions for opt in action.option_strings}


def test_option_choices_read_the_literal_types():
    assert option_choices("esd") == ("full", "farms")
    assert option_choices("precision") == ("float64", "float32")
    assert option_choices("pl_method") == powerlaw.METHODS == ("auto", "csn")
    assert option_choices("types") == LAYER_TYPES  # the items of a tuple beside None
    assert option_choices("conv_layout") == CONV_LAYOUTS == ("auto", "flax", "torch")
    assert option_choices("seed") is None and option_choices("pl_xmax") is None


def test_cli_defaults_are_analyze_options_defaults():
    args = _parser().parse_args(["analyze", "model.safetensors"])
    assert AnalyzeOptions(**analyze_options(args)) == AnalyzeOptions()
    assert analyze_options(args)["pl_method"] == "csn"


def test_cli_flags_agree_with_analyze_options_field_by_field():
    flags, fields = _flags(), {f.name for f in dataclasses.fields(AnalyzeOptions)}
    assert set(OPTION_FLAGS.values()) <= fields
    for flag, field in OPTION_FLAGS.items():
        action = flags[flag]
        assert action.dest == field, flag
        default = getattr(AnalyzeOptions(), field)
        assert action.default in (default, None), flag  # None: left out, so the option's own default applies
        choices = option_choices(field)
        assert (tuple(action.choices) if action.choices else None) == choices, flag
    # every flag of an AnalyzeOptions field is in OPTION_FLAGS (so analyze_options passes it on)
    named = {f"--{f.replace('_', '-')}" for f in fields} & set(flags)
    assert named == set(OPTION_FLAGS)


def test_cli_passes_each_flag_to_its_option():
    args = _parser().parse_args(["analyze", "m", "--pl-method", "auto", "--esd", "farms", "--precision", "float32",
                                 "--types", "conv", "--min-evals", "3", "--seed", "7", "--normalize", "--traps"])
    opts = AnalyzeOptions(**{k: tuple(v) if isinstance(v, list) else v for k, v in analyze_options(args).items()})
    assert (opts.pl_method, opts.esd, opts.precision, opts.types, opts.min_evals, opts.seed, opts.normalize,
            opts.traps, opts.randomize) == ("auto", "farms", "float32", ("conv",), 3, 7, True, True, False)


def test_zoo_config_agrees_with_analyze_options_field_by_field():
    zoo, ours = ZooAnalysisConfig(), AnalyzeOptions()
    assert [f.name for f in dataclasses.fields(ZooAnalysisConfig)] == [f.name for f in dataclasses.fields(AnalyzeOptions)]
    for f in dataclasses.fields(AnalyzeOptions):
        assert getattr(zoo, f.name) == getattr(ours, f.name), f.name


def test_pl_method_defaults_differ_on_purpose():
    # fit_power_law keeps "auto" (chosen on Pareto spectra); the analyzer's default is AnalyzeOptions' "csn"
    # (the fit the phase criteria were calibrated on), read from nowhere else.
    assert inspect.signature(powerlaw.fit_power_law).parameters["method"].default == "auto"
    assert AnalyzeOptions().pl_method == "csn" and AnalyzeOptions().pl_calibrated
    w = np.random.default_rng(0).standard_normal((120, 60))
    a = rmtkit.analyze({"w": w}, progress=False)
    assert a.options.pl_method == "csn" and a.provenance["options"]["pl_method"] == "csn"
    ev = a.spectrum("w")
    assert float(a.pl.alpha[0]) == pytest.approx(float(powerlaw.fit_power_law(ev, method="csn").alpha), rel=1e-12)


def test_optim_estimators_are_the_powerlaw_registry():
    assert optim.ESTIMATORS == tuple(powerlaw.ESTIMATORS) == ("hill_median", "csn")
    assert powerlaw.ESTIMATORS["hill_median"].traced and not powerlaw.ESTIMATORS["csn"].traced
    with pytest.raises(ValueError, match=r"estimator must be one of \('hill_median', 'csn'\)"):
        optim.layer_exponents({"w": np.ones((60, 60))}, estimator="bogus")


def test_a_new_registry_entry_is_an_estimator_of_the_transforms(monkeypatch):
    # One entry in rmtkit.powerlaw.ESTIMATORS and optim dispatches on it (host side here; traced below).
    monkeypatch.setitem(powerlaw.ESTIMATORS, "top_over_median",
                        powerlaw.Estimator("lambda_max / median (test)", lambda ev, **kw: ev[-1] / np.median(ev), False))
    monkeypatch.setitem(powerlaw.ESTIMATORS, "traced_top",
                        powerlaw.Estimator("lambda_max (test)", lambda ev, xmin_pos: ev[-1], True))
    w = np.random.default_rng(1).standard_normal((80, 60))
    ev = np.linalg.eigvalsh(w.T @ w)
    got = jax.jit(lambda p: optim.layer_exponents(p, estimator="top_over_median"))({"w": w})
    assert float(got["w"]) == pytest.approx(ev[-1] / np.median(ev), rel=1e-5)
    got = optim.layer_exponents({"w": w}, estimator="traced_top")
    assert float(got["w"]) == pytest.approx(ev[-1], rel=1e-4)
    tx = optim.temperature_balance(1, estimator="top_over_median")  # accepted by the transforms' checks
    assert tx.init({"w": w}).count == 0
