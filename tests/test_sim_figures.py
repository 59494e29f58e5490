"""The simulators' figures (demo, calibration, training), built from small synthetic inputs: what a reader needs
is there (labels, whole epochs, readable text, sane sizes), and an MP curve only where the MP fit holds."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.text import Text

import rmtkit
from rmtkit import plot
from rmtkit.analysis import LayerResult
from rmtkit.marchenko_pastur import MPFit
from rmtkit.plot import PHASE_COLORS
from rmtkit.powerlaw import PowerLawFit
from rmtkit.status import FitStatus
from simulations import demo
from simulations.calibration import figures as cal_figures
from simulations.train import figures as train_figures

MIN_PT = 8  # the floor for any text in a figure


def _texts(fig) -> list[Text]:
    fig.canvas.draw()
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


def _assert_readable(fig, max_size=(14.0, 12.0)):
    small = [(t.get_text(), t.get_fontsize()) for t in _texts(fig) if t.get_fontsize() < MIN_PT]
    assert not small, f"text under {MIN_PT} pt: {small[:5]}"
    w, h = fig.get_size_inches()
    assert 4 <= w <= max_size[0] and 2.5 <= h <= max_size[1], (w, h)


def _overlaps(labels) -> list[tuple[str, str]]:
    boxes = [(t.get_text(), t.get_window_extent()) for t in labels if t.get_visible() and t.get_text()]
    return [(a, b) for i, (a, ba) in enumerate(boxes) for b, bb in boxes[i + 1:] if ba.overlaps(bb)]


def _mp_curves(ax) -> list:
    return [line for line in ax.get_lines() if line.get_label().startswith("MP fit")]


# --- calibration --------------------------------------------------------------------------------------------

def _calibration_table(ensemble="gaussian", errors=(0.002, -0.001, 0.0005, -0.003, 0.001), planted=0.0, found=None):
    """A sweep of 3 sigmas x 3 Q, 5 draws per cell, with the given relative sigma errors and spike counts."""
    rows = []
    for value in (0.5, 1.0, 2.0):
        for q in (1.0, 2.0, 4.0):
            for seed, err in enumerate(errors):
                rows.append({"ensemble": ensemble, "param": "sigma", "value": value, "M": 100, "N": int(100 * q),
                             "Q": q, "seed": seed, "sigma_true": value, "sigma_fit": value * (1 + err),
                             "spikes_planted": planted, "num_spikes": planted if found is None else found[seed]})
    return pd.DataFrame(rows)


def test_calibration_sigma_panel_shows_relative_error_with_a_band_wider_than_the_scatter():
    fig = cal_figures.fits_figure(_calibration_table())
    a1, a2 = fig.axes[:2]
    lo, hi = a1.get_ylim()
    # errors of at most 0.3%: the axis spans +-1.5%, so the 1% band is visible and the points are not blown up
    assert (lo, hi) == pytest.approx((-1.5, 1.5))
    assert "%" in a1.get_ylabel() and "sigma" in a1.get_ylabel()
    assert [t.get_text() for t in a1.get_xticklabels()][:4] == ["Q=1", "Q=2", "Q=4", "Q=1"]
    assert [t.get_text() for t in a1.texts] == ["sigma=0.5", "sigma=1", "sigma=2"]  # under each run of cells
    _assert_readable(fig)
    plt.close(fig)


def test_calibration_sigma_axis_widens_to_the_largest_error():
    fig = cal_figures.fits_figure(_calibration_table(errors=(0.03, -0.001, 0.0, 0.0, 0.0)))
    assert fig.axes[0].get_ylim() == pytest.approx((-3.45, 3.45))  # 1.15 x 3%
    plt.close(fig)


@pytest.mark.parametrize("values", [3, 5, 12])
@pytest.mark.parametrize("qs", [(2.0,), (1.0, 2.0, 4.0)])
def test_calibration_tick_labels_do_not_overlap(values, qs):
    table = _calibration_table()
    table = pd.concat([table.assign(value=v, param="strength") for v in np.round(np.linspace(0.25, 12.5, values), 2)],
                      ignore_index=True)
    table = table[table["Q"].isin(qs)].reset_index(drop=True)
    fig = cal_figures.fits_figure(table)
    fig.canvas.draw()
    for ax in fig.axes[:2]:
        assert len(ax.get_xticks()) == values * len(qs)
        assert _overlaps(ax.get_xticklabels()) == []
        assert _overlaps(ax.texts if len(qs) > 1 else [t for t in ax.texts if t.get_text().startswith("strength")]) == []
    _assert_readable(fig)
    plt.close(fig)


def test_calibration_spike_panel_counts_exact_draws_per_cell():
    found = (5, 5, 4, 5, 5)  # one draw in each cell misses a spike
    fig = cal_figures.fits_figure(_calibration_table(planted=5.0, found=found))
    a2 = fig.axes[1]
    notes = [t.get_text() for t in a2.texts]
    assert notes.count("4/5\nexact") == 9
    lo, hi = a2.get_ylim()
    assert lo < 0 and hi > 5  # the planted count and the counts found are inside the axis
    ticks = [t for t in a2.get_yticks() if lo <= t <= hi]
    assert all(float(t).is_integer() for t in ticks)
    plt.close(fig)


def test_calibration_spike_panel_is_not_degenerate_when_nothing_is_found():
    fig = cal_figures.fits_figure(_calibration_table())  # gaussian: 0 planted, 0 found everywhere
    a2 = fig.axes[1]
    lo, hi = a2.get_ylim()
    assert hi - lo >= 2  # not a +-0.3 band around zero
    assert [t.get_text() for t in a2.texts].count("5/5\nexact") == 9
    plt.close(fig)


def _wishart(rng, n, m, rank=None):
    w = rng.standard_normal((n, m))
    if rank is not None:
        w = w[:, :rank] @ rng.standard_normal((rank, m)) / np.sqrt(rank)
    return np.sort(np.linalg.eigvalsh(w.T @ w / n))


def test_calibration_esd_draws_the_mp_fit_only_where_it_holds():
    rng = np.random.default_rng(0)
    ev_g = _wishart(rng, 200, 100)
    ev_r = np.clip(_wishart(rng, 200, 100, rank=10), 0, None)  # 90 eigenvalues at round-off
    # The fits as fit_marchenko_pastur returns them (built by hand: no JIT in this test): sigma = 1 with the
    # theoretical edges for q = 2; for the rank-10 matrix, a "bulk" of round-off and its 10 eigenvalues as spikes.
    lo, hi = (1 - 2 ** -0.5) ** 2, (1 + 2 ** -0.5) ** 2
    f64, i32 = np.float64, np.int32
    fit_g = MPFit(f64(1.0), f64(lo), f64(hi), f64(hi + 0.2), i32(0), i32(100), f64(0.03), i32(0))
    fit_r = MPFit(f64(3e-16), f64(1e-33), f64(1e-31), f64(2e-31), i32(10), i32(90), f64(0.02), i32(0))
    nan = np.float64(np.nan)
    failed = MPFit(nan, nan, nan, nan, np.int32(-1), np.int32(-1), nan, np.int32(FitStatus.DEGENERATE))
    examples = [("gaussian", ev_g, 2.0, fit_g), ("low rank", ev_r, 2.0, fit_r), ("failed", ev_g, 2.0, failed)]
    fig = cal_figures.esd_figure(examples)
    ag, ar, af = fig.axes[:3]
    assert len(_mp_curves(ag)) == 1 and ag.get_xscale() == "linear"
    assert _mp_curves(ar) == [] and ar.get_xscale() == "log"
    # the null eigenvalues (round-off, ~1e-16) are left out: the axis starts near the smallest real one
    smallest = ev_r[-10:].min()
    assert ar.get_xlim()[0] > smallest / 10
    # less than two decades: plain numbers, not a row of colliding 2x10^0, 3x10^0 minor labels
    ar.figure.canvas.draw()
    labels = [t for t in ar.get_xticklabels() if t.get_visible() and t.get_text()]
    assert labels and not any("times" in t.get_text() for t in labels) and _overlaps(labels) == []
    assert _mp_curves(af) == []
    _assert_readable(fig)
    plt.close(fig)


def test_mp_fit_holds_is_the_phase_test():
    ok = MPFit(*(np.float64(v) for v in (1.0, 0.1, 2.9, 3.0)), np.int32(3), np.int32(97), np.float64(0.01),
               np.int32(0))
    assert cal_figures.mp_fit_holds(ok, 100)  # 3% outliers, D * n_bulk = 0.97
    assert not cal_figures.mp_fit_holds(ok._replace(num_spikes=np.int32(30)), 100)  # 30% outliers
    assert not cal_figures.mp_fit_holds(ok._replace(D=np.float64(0.2)), 100)  # D * n_bulk = 19.4 > 6
    assert not cal_figures.mp_fit_holds(ok._replace(status=np.int32(FitStatus.DEGENERATE)), 100)


# --- training -------------------------------------------------------------------------------------------------

def _spectral(epochs=11):
    phases = ["random-like"] * 3 + ["bleeding-out"] * 3 + ["bulk+spikes"] * 3 + ["heavy-tailed"] * 2
    rows = []
    for layer, a0 in (("fc1", 9.0), ("fc2", 7.0)):
        for e in range(epochs):
            rows.append({"epoch": e, "name": layer, "status": "ok", "alpha": a0 - 0.5 * e, "phase": phases[e],
                         "stable_rank": 100.0 - 5 * e, "mp_softrank": 0.9 - 0.07 * e})
    rows.append({"epoch": 0, "name": "conv1", "status": "skipped"})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("epochs", [3, 11])
def test_phases_figure_has_whole_epoch_ticks_and_labelled_axes(epochs):
    fig = train_figures.phases_figure(_spectral(epochs))
    axes = fig.axes
    assert len(axes) == 4  # 2 layers x 2 panels; the skipped row draws nothing
    for ax in axes:
        lo, hi = ax.get_xlim()
        ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks
        assert ax.get_xlabel() == "epoch" and ax.get_ylabel()
    assert "alpha" in axes[0].get_ylabel()
    _assert_readable(fig)
    plt.close(fig)


def test_phases_are_told_apart_by_colour_and_marker():
    fig = train_figures.phases_figure(_spectral())
    drawn = {line.get_label(): line for line in fig.axes[0].get_lines() if line.get_label() in PHASE_COLORS}
    assert set(drawn) == {"random-like", "bleeding-out", "bulk+spikes", "heavy-tailed"}
    for phase, line in drawn.items():
        assert matplotlib.colors.to_hex(line.get_color()) == PHASE_COLORS[phase].lower()
    markers = [line.get_marker() for line in drawn.values()]
    assert len(set(markers)) == len(markers)
    assert drawn["random-like"].get_marker() != drawn["bleeding-out"].get_marker()
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert set(drawn) <= set(legend)
    # the y axis holds every alpha and the 2 < alpha < 6 band
    lo, hi = fig.axes[0].get_ylim()
    assert lo < 2 and hi > 9
    plt.close(fig)


# --- demo -----------------------------------------------------------------------------------------------------

class _Analysis:
    """What the demo's figures read of an :class:`rmtkit.analysis.Analysis`: ``names``, ``layer(name)``, ``spectrum``."""

    def __init__(self, layers: dict):
        self._layers, self.names = layers, tuple(layers)

    def layer(self, name):
        return self._layers[name]

    def spectrum(self, name):
        return self._layers[name].evals


def _layer(name, evals, q, mp, phase, spike_fraction, bulk_ks, alpha=3.0, xmin=None):
    """One analysed layer as the analysis hands it over (fits built by hand: the figures must not refit)."""
    f64, i32 = np.float64, np.int32
    tail = evals[evals >= (xmin if xmin is not None else np.quantile(evals, 0.8))]
    pl = PowerLawFit(f64(alpha), f64(tail.min()), f64(np.inf), f64(0.05), f64(0.2), i32(tail.size), i32(evals.size),
                     i32(0), f64(0.05))
    features = {"mp_status": int(mp.status), "spike_fraction": spike_fraction, "bulk_ks": bulk_ks}
    return LayerResult(name=name, evals=evals, q=q, mp=mp, mp_q=q, pl=pl, metrics={}, phase=phase, phase_reason="",
                       phase_features=features, warning=None, randomized=None, randomized_mp=None)


@pytest.fixture(scope="module")
def small_gallery():
    rng = np.random.default_rng(1)
    f64, i32 = np.float64, np.int32
    lo, hi = (1 - 2 ** -0.5) ** 2, (1 + 2 ** -0.5) ** 2
    gauss = _wishart(rng, 200, 100)
    mp_g = MPFit(f64(1.0), f64(lo), f64(hi), f64(hi + 0.2), i32(0), i32(100), f64(0.03), i32(0))
    # rank 10: the analysis sets the 90 null eigenvalues to 0 and fits MP(q = 20) to the other 10, a fit that
    # passes the bulk test (1 outlier of 100, D * n_bulk = 0.9) although the spectrum is no MP bulk
    low = np.concatenate([np.zeros(90), np.sort(rng.uniform(4.0, 19.0, 10))])
    mp_r = MPFit(f64(2.8), f64(4.8), f64(12.0), f64(12.5), i32(1), i32(9), f64(0.1), i32(0))
    heavy = np.sort(rng.pareto(1.0, 100) + 1) ** 2
    mp_p = MPFit(f64(1.5), f64(0.5), f64(9.0), f64(9.5), i32(30), i32(70), f64(0.05), i32(0))
    return _Analysis({
        "gaussian": _layer("gaussian", gauss, 2.0, mp_g, "random-like", 0.0, 3.0),
        "low_rank": _layer("low_rank", low, 2.0, mp_r, "rank-collapse", 0.01, 0.9),
        "pareto": _layer("pareto", heavy, 2.0, mp_p, "heavy-tailed", 0.3, 3.5, alpha=2.0, xmin=4.0),
    })


def test_demo_gallery_draws_mp_only_for_an_mp_bulk_and_no_round_off(small_gallery):
    titles = {"gaussian": "gaussian", "low_rank": "low rank 10", "pareto": "pareto"}
    fig = demo.gallery_figure(small_gallery, titles)
    by_title = {ax.get_title().split("\n")[0]: ax for ax in fig.axes if ax.get_visible()}
    g, r, p = by_title["gaussian"], by_title["low rank 10"], by_title["pareto"]
    assert len(_mp_curves(g)) == 1 and g.get_xscale() == "linear"
    for ax in (r, p):
        assert _mp_curves(ax) == [] and ax.get_xscale() == "log" and ax.get_yscale() == "log"
    # the 90 null eigenvalues of the rank-10 matrix are counted, not drawn at 1e-30
    ev = small_gallery.spectrum("low_rank")
    assert r.get_xlim()[0] > ev[ev > 0].min() / 10
    assert r.get_ylim()[1] < 1e6
    assert any("90 zero eigenvalues" in t.get_text() for t in r.get_legend().get_texts())
    _assert_readable(fig)
    plt.close(fig)


def test_demo_data_figure_is_log_log_with_the_random_reference(small_gallery):
    fig = demo.data_figure(small_gallery.layer("pareto"), "pareto")
    a1, a2 = fig.axes
    assert a1.get_xscale() == a1.get_yscale() == a2.get_xscale() == a2.get_yscale() == "log"
    labels = [line.get_label() for line in a1.get_lines()]
    assert any(label.startswith("MP law of a random matrix") for label in labels)
    # the reference MP law spans exactly its edges for q = 2, sigma = 1
    ref = next(line for line in a1.get_lines() if line.get_label().startswith("MP law"))
    x = ref.get_xdata()
    assert x.min() == pytest.approx((1 - 2 ** -0.5) ** 2, rel=0.01) and x.max() == pytest.approx((1 + 2 ** -0.5) ** 2, rel=0.01)
    # drawn as the count it predicts per log-spaced bin (n rho(lambda) lambda dln(lambda)), as the bars are
    ev = small_gallery.layer("pareto").evals
    dln = np.log(ev.max() * (1 + 1e-9) / ev.min()) / 70
    rho = np.asarray(rmtkit.marchenko_pastur_pdf(x, 2.0, 1.0))
    np.testing.assert_allclose(ref.get_ydata(), rho * x * ev.size * dln, rtol=1e-6)
    assert a1.get_ylabel() == plot.LOG_BIN_LABEL
    # the legend sits below the panel, on neither the bars nor the MP curve
    fig.canvas.draw()
    assert a1.get_legend().get_window_extent().y1 < a1.get_window_extent().y0
    for ax in (a1, a2):
        assert ax.get_xlabel() and ax.get_ylabel()
    _assert_readable(fig)
    plt.close(fig)


def test_esd_over_training_is_log_log_with_one_outline_per_saved_epoch(tmp_path):
    from rmtkit import checkpoints

    rng = np.random.default_rng(2)
    for epoch in (1, 2, 3):
        checkpoints.write_safetensors(tmp_path / f"epoch_{epoch:03d}.safetensors",
                             {"fc1": rng.standard_normal((64, 32)).astype(np.float32)})
    ckpts = sorted(tmp_path.glob("epoch_*.safetensors"))
    fig = train_figures.esd_over_training_figure(ckpts, "fc1")
    ax = fig.axes[0]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["epoch 1", "epoch 2", "epoch 3"]
    assert ax.get_ylabel() == plot.LOG_BIN_LABEL and "eigenvalue" in ax.get_xlabel()
    # counts per log-spaced bin: no outline above the 32 eigenvalues of one epoch, whatever the bin widths
    assert max(p.get_xy()[:, 1].max() for p in ax.patches) <= 32
    labels = [t for t in ax.get_xticklabels() if t.get_visible() and t.get_text()]
    assert labels and not any("times" in t.get_text() for t in labels) and _overlaps(labels) == []
    _assert_readable(fig)
    plt.close(fig)
    assert train_figures.esd_over_training_figure(ckpts, "fc9") is None  # a layer no checkpoint holds


def test_calibration_without_a_true_sigma_marks_the_rejected_fits_hollow():
    table = _calibration_table().assign(sigma_true=np.nan, spikes_planted=np.nan, D=0.01, status="ok")
    table["num_spikes"] = np.where(table["value"] == 0.5, 50, 0)  # half the spectrum outliers: no bulk
    fig = cal_figures.fits_figure(table)
    a1 = fig.axes[0]
    points = [line for line in a1.get_lines() if line.get_marker() == "o"]
    hollow = [line for line in points if line.get_markerfacecolor() == "none"]
    filled = [line for line in points if line.get_markerfacecolor() != "none"]
    assert sum(len(line.get_xdata()) for line in hollow) == 15  # 3 cells of sigma = 0.5, 5 draws each
    assert sum(len(line.get_xdata()) for line in filled) == 30
    assert sorted(t.get_text() for t in a1.get_legend().get_texts()) == ["MP fit holds", "MP fit rejected (no bulk)"]
    plt.close(fig)
