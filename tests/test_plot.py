"""The analyzer's figures (issue 13 item 4): what can be asserted about them without looking."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.image import imread  # noqa: E402
from matplotlib.text import Text  # noqa: E402

import rmtkit  # noqa: E402
from rmtkit import phases, plot  # noqa: E402


@pytest.fixture(scope="module")
def analysis():
    rng = np.random.default_rng(1)
    weights = {"gauss": rng.standard_normal((400, 200)), "heavy": rng.standard_t(1.5, (600, 300))}
    return rmtkit.analyze(weights, randomize=True, seed=0, progress=False)


def _texts(fig) -> list[Text]:
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


def _labels(ax) -> list[str]:
    return [h.get_label() for h in ax.get_legend_handles_labels()[0]]


def test_mp_like_layer_linear_with_mp_curve_and_a_light_spike_rug(analysis):
    layer = analysis.layer("gauss")
    assert layer.phase == "random-like" and bool(phases.mp_bulk_holds(layer.phase_features))
    fig = plot.layer_figure(layer)
    esd, tail = fig.axes
    assert esd.get_xscale() == "linear" and esd.get_yscale() == "linear"
    mp_lines = [line for line in esd.get_lines() if line.get_label().startswith("MP fit")]
    assert len(mp_lines) == 1
    x, y = mp_lines[0].get_data()  # the analysis' own fit: its edges and density
    assert x.min() >= float(layer.mp.lambda_minus) and x.max() <= float(layer.mp.lambda_plus)
    np.testing.assert_allclose(y, rmtkit.marchenko_pastur_pdf(x, layer.mp_q, float(layer.mp.sigma)), rtol=1e-6)
    assert "shuffled W" in _labels(esd)  # randomize=True: the shuffled ESD overlaid
    assert esd.get_xlabel() and esd.get_ylabel() == "density"
    assert tail.get_xscale() == "log" and tail.get_yscale() == "log"
    plt.close(fig)


def test_heavy_tailed_layer_log_axes_no_mp_curve_annotated_tail(analysis):
    layer = analysis.layer("heavy")
    assert int(layer.mp.status) == 0  # the MP fit exists, but the decision list rejects it as a bulk
    assert not phases.mp_bulk_holds(layer.phase_features) and layer.phase in ("heavy-tailed", "bulk-decay")
    fig = plot.layer_figure(layer)
    esd, tail = fig.axes
    assert esd.get_xscale() == "log" and esd.get_yscale() == "log"
    assert not [line for line in esd.get_lines() if line.get_label().startswith("MP fit")]
    assert not [c for c in esd.collections if isinstance(c, LineCollection)]  # no spike marks, no edge lines
    assert not any("spike" in label for label in _labels(esd))
    box = tail.get_legend().get_title().get_text()  # one box: the fit's numbers above the line keys
    pl = layer.pl
    assert f"{float(pl.alpha):.2f} $\\pm$ {float(pl.sigma):.2f}" in box
    assert f"xmin = {float(pl.xmin):.3g}" in box and f"n_tail = {int(pl.n_tail)}" in box
    assert f"D = {float(pl.D):.3f}" in box
    if layer.warning:
        assert "warning: " + layer.warning.split(",")[0] in box.replace("\n", " ")
    ev = layer.evals[layer.evals > 0]
    lo, hi = tail.get_xlim()
    assert ev.min() / 1.31 <= lo <= ev.min() and ev.max() <= hi <= ev.max() * 1.31  # trimmed to the data
    plt.close(fig)


def test_text_sizes_and_figure_files(analysis, tmp_path):
    written, failures = plot.save_model_plots(analysis, tmp_path)
    assert written == 3 and failures == {}
    for name in ("gauss", "heavy"):
        height, width = imread(tmp_path / f"{name}.png").shape[:2]
        assert 800 <= width <= 1100 and 300 <= height <= 450, (name, width, height)
    height, width = imread(tmp_path / "model.png").shape[:2]
    assert 700 <= width <= 1800 and 350 <= height <= 700
    for fig in (plot.layer_figure(analysis.layer("heavy")), plot.plot_model(analysis).figure):
        sizes = [t.get_fontsize() for t in _texts(fig)]
        assert sizes and min(sizes) >= plot.MIN_TEXT_PT
        plt.close(fig)


def _big_model_table(blocks: int = 24) -> pd.DataFrame:
    """A table shaped like a 24-block transformer: 6 matrices per block, embeddings first, pooler last."""
    types = ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
             "intermediate.dense", "output.dense"]
    names = ["embeddings.word_embeddings.weight"]
    names += [f"encoder.layer.{b}.{t}.weight" for b in range(blocks) for t in types]
    names += ["pooler.dense.weight"]
    rng = np.random.default_rng(0)
    labels = rmtkit.Phase.labels()
    return pd.DataFrame({"name": names, "status": "ok", "alpha": rng.uniform(1.5, 9.0, len(names)),
                         "phase": [labels[i % 6] for i in range(len(names))]})


def test_model_chart_readable_at_any_size():
    df = _big_model_table()
    ax = plot.plot_model(df)
    fig = ax.figure
    width, height = fig.get_size_inches()
    assert width <= 14 and height <= 5
    assert [t.get_text() for t in ax.get_xticklabels()][:3] == ["embeddings.word_embeddings", "0", "1"]
    assert len(ax.get_xticks()) == 24 + 2  # one slot per block, not one per matrix
    assert ax.get_title() and ax.get_xlabel().startswith("block") and "alpha" in ax.get_ylabel()
    assert ax.get_yscale() == "log" and all("10^" not in t.get_text() for t in ax.get_yticklabels())
    band = [p for p in ax.patches if p.get_label().startswith("2 <")]
    assert len(band) == 1 and (band[0].get_y(), band[0].get_y() + band[0].get_height()) == (2, 6)  # 2 < alpha < 6
    assert min(t.get_fontsize() for t in _texts(fig)) >= plot.MIN_TEXT_PT
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "attention.self.query" in legend and "heavy-tailed" in legend
    # Every point is drawn once, in its phase's colour from the one palette.
    points = np.concatenate([c.get_offsets() for c in ax.collections])
    assert len(points) == len(df)
    colours = {tuple(np.round(c, 3)) for coll in ax.collections for c in coll.get_facecolors()}
    palette = {tuple(np.round(matplotlib.colors.to_rgba(c), 3)) for c in plot.PHASE_COLORS.values()}
    assert colours <= palette
    plt.close(fig)


def test_layer_groups():
    groups, types = plot.layer_groups(["embeddings.word_embeddings.weight", "encoder.layer.11.output.dense.weight",
                                       "fc1.kernel", "blocks_3/mlp/kernel"])
    assert groups == ["embeddings.word_embeddings", "11", "fc1", "3"]
    assert types == ["embeddings.word_embeddings", "output.dense", "fc1", "mlp/kernel"]


def test_docstring_says_which_function_writes_files():
    assert "save_model_plots` is the one function here that writes files" in plot.__doc__


def test_log_esd_counts_per_bin_so_one_small_eigenvalue_never_towers():
    """A bulk of 500 eigenvalues in [1, 10] and one at 1e-7: as a density per unit lambda that one would be a bar
    of ~1e5 (1/500 over a bin of width ~1e-8); counted per log-spaced bin it is a bar of height 1."""
    rng = np.random.default_rng(0)
    eigs = np.concatenate([[1e-7], rng.uniform(1.0, 10.0, 500)])
    ax = plot.plot_esd(eigs, log_x=True, bins=40)
    heights = np.array([p.get_height() for p in ax.patches])
    counts, _ = np.histogram(eigs, np.geomspace(1e-7, eigs.max() * (1 + 1e-9), 41))
    np.testing.assert_array_equal(heights, counts)
    assert heights[0] == 1 and heights.sum() == 501 and heights.max() < 501
    assert ax.get_ylabel() == plot.LOG_BIN_LABEL and ax.get_ylim()[0] == 0.5
    plt.close(ax.figure)


def test_log_esd_curves_are_drawn_as_expected_counts_per_bin():
    """A density overlaid on a log-binned ESD is n rho(lambda) lambda dln(lambda): for Uniform(1, 10) data the
    curve of its own density must follow the bars (to within Poisson noise) and hold n in total."""
    rng = np.random.default_rng(1)
    eigs = rng.uniform(1.0, 10.0, 20000)
    grid = np.geomspace(1.0, 10.0, 50)
    ax = plot.plot_esd(eigs, log_x=True, bins=20, curves=[("uniform", grid, np.full(50, 1 / 9))])
    line = next(line for line in ax.get_lines() if line.get_label() == "uniform")
    dln = np.log(10.0) / 20
    np.testing.assert_allclose(line.get_ydata(), 20000 * grid / 9 * dln, rtol=1e-3)
    heights = np.array([p.get_height() for p in ax.patches])
    centres = np.sqrt(np.geomspace(1, 10, 21)[:-1] * np.geomspace(1, 10, 21)[1:])
    np.testing.assert_allclose(heights, 20000 * centres / 9 * dln, rtol=0.1)
    plt.close(ax.figure)


def _covered_points(ax, legend, xs, ys) -> int:
    ax.figure.canvas.draw()
    box = legend.get_window_extent()
    pts = ax.transData.transform(np.column_stack([xs, ys]))
    return sum(bool(box.contains(*p)) for p in pts)


def test_tail_panel_spans_a_few_decades_below_xmin_with_the_legend_off_the_data():
    """An MP-like spectrum with eigenvalues down to 1e-8 (as MiniLM's pooler): the panel starts TAIL_DECADES
    below xmin, not 8 decades lower, the box says how many eigenvalues are left of the axis, and the one box
    (fit numbers and line keys) covers no point."""
    rng = np.random.default_rng(2)
    eigs = np.sort(np.concatenate([10 ** rng.uniform(-8, -3, 40), rng.uniform(0.001, 0.12, 344)]))
    fit = rmtkit.fit_power_law(eigs, method="csn")
    ax = plot.plot_tail(eigs, fit=fit, warning="under-trained, unreliable: MP-like")
    lo, hi = ax.get_xlim()
    xmin = float(fit.xmin)
    assert lo == pytest.approx(max(eigs[0], xmin / 10**plot.TAIL_DECADES) / 1.3)
    assert np.log10(hi / lo) <= np.log10(eigs[-1] / xmin) + plot.TAIL_DECADES + 0.3
    hidden = int(np.sum(eigs < xmin / 10**plot.TAIL_DECADES))
    legend = ax.get_legend()
    assert hidden > 0 and f"{hidden} smaller eigenvalues left of the axis" in legend.get_title().get_text()
    assert f"n_tail = {int(fit.n_tail)}" in legend.get_title().get_text()
    assert legend.get_title().get_fontsize() >= plot.MIN_TEXT_PT
    points = ax.get_lines()[0]
    assert _covered_points(ax, legend, *points.get_data()) == 0
    plt.close(ax.figure)


def test_bounded_tail_fit_is_drawn_bounded_and_says_so():
    """With xmax the line is the bounded law's ccdf, frac (x^(1-a) - xmax^(1-a)) / (xmin^(1-a) - xmax^(1-a))."""
    x = np.sort(np.random.default_rng(3).pareto(1.0, 2000) + 1.0)
    ax = plot.plot_tail(x, alpha=2.0, xmin=2.0, xmax=50.0)
    line = next(line for line in ax.get_lines() if line.get_label().startswith("power law bounded at xmax = 50"))
    gx, gy = line.get_data()
    frac = np.mean(x >= 2.0)
    np.testing.assert_allclose(gy, frac * (1 / gx - 1 / 50) / (1 / 2 - 1 / 50), rtol=1e-9)
    assert gx.max() < 50 and gy.min() < frac * 0.02  # it falls towards 0 at xmax
    plt.close(ax.figure)
