"""The training suite: models, data, the trainer with its spectral history, resume, sweeps and the collector."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from rmtkit.datasets import DatasetMissingError
from simulations.entry import CONFIG_DIR
from simulations.train import collect
from simulations.train.config import DataConfig, ModelConfig, TrainConfig, register_configs, shrink
from simulations.train.data import load_data
from simulations.train.models import build_model, conv2d, max_pool, weight_matrices
from simulations.train.run import run

ROOT = Path(__file__).resolve().parents[1]


def _compose(overrides):
    register_configs()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return OmegaConf.to_object(compose(config_name="train", overrides=overrides))


GROUPS = {"model": ["mlp3", "lenet5", "minialexnet", "tiny"], "data": ["fashion_mnist", "synthetic"],
          "optimizer": ["sgd", "adam"], "analysis": ["default"], "experiment": ["batch_size_sweep", "weight_decay"],
          "debug": ["smoke"]}


@pytest.mark.parametrize(("group", "choice"), [(g, c) for g, cs in GROUPS.items() for c in cs])
def test_every_config_group_composes_and_instantiates(group, choice):
    cfg = _compose([f"{group}={choice}"])
    assert isinstance(cfg, TrainConfig)
    model = build_model(shrink(cfg).model if group == "debug" else cfg.model, seed=0)
    assert model(jnp.ones((2, 28, 28, 1))).shape == (2, 10)
    if group == "experiment":
        assert cfg.model.name == "minialexnet" and cfg.loss == "softmax_mse" and cfg.threads == 1
        assert (cfg.data.standardize, cfg.data.val_size, cfg.model.pool_stride) == ("image", 0, 3)
        assert (cfg.optimizer.name, cfg.optimizer.lr, cfg.optimizer.momentum, cfg.optimizer.lr_decay) == (
            "sgd", 0.01, 0.9, 0.95)


def test_sweep_and_slurm_launcher_configs_compose():
    register_configs()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="train", overrides=["experiment=batch_size_sweep", "hydra/launcher=slurm"],
                      return_hydra_config=True)
    assert cfg.hydra.sweeper.params.batch_size == "2,4,8,16,32,100,250,1000"
    assert cfg.hydra.sweeper.params.seed == "0,1,2" and cfg.epochs == 40 and cfg.data.subset is None
    assert cfg.hydra.launcher._target_.endswith("SlurmLauncher") and cfg.hydra.launcher.cpus_per_task == 2


def test_weight_decay_sweep_values_compose():
    from hydra.core.override_parser.overrides_parser import OverridesParser

    register_configs()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="train", overrides=["experiment=weight_decay"], return_hydra_config=True)
        (key, values), = cfg.hydra.sweeper.params.items()
        override = OverridesParser.create().parse_overrides([f"{key}={values}"])[0]
        decays = [OmegaConf.to_object(compose(config_name="train", overrides=["experiment=weight_decay", f"{key}={v}"]))
                  .optimizer.weight_decay for v in ("{}", "{fc1:5e-3}", "{fc1:1e-4,fc2:1e-4}")]
    assert list(override.sweep_iterator()) == [{}, *({"fc1": r} for r in (1e-4, 1e-3, 5e-3, 1e-2, 5e-2)),
                                               {"fc1": 0.0001, "fc2": 0.0001}]
    assert decays == [{}, {"fc1": 0.005}, {"fc1": 0.0001, "fc2": 0.0001}]


def test_models_match_the_paper_shapes_and_init():
    shapes = {n: {k: v.shape for k, v in weight_matrices(build_model(ModelConfig(name=n), seed=0)).items()}
              for n in ("mlp3", "lenet5", "minialexnet")}
    assert shapes["lenet5"]["fc1"] == (800, 500) and shapes["lenet5"]["conv2"] == (5, 5, 20, 50)
    assert shapes["mlp3"]["fc2"] == (512, 512)


@pytest.mark.parametrize(("conv_width", "c2"), [(1.0, 256), (0.25, 64), (0.125, 32)])
def test_minialexnet_follows_the_authors_keras_script(conv_width, c2):
    alex = build_model(ModelConfig(name="minialexnet", conv_width=conv_width), seed=0)
    shapes = {k: v.shape for k, v in weight_matrices(alex).items()}
    # Keras MaxPooling2D((3, 3), padding="same") strides by 3: 28 -> 10 -> 4, so FC1 is (16 c2) x 384.
    assert shapes["fc1"] == (16 * c2, 384) and shapes["fc2"] == (384, 192) and shapes["fc3"] == (192, 10)
    assert shapes["conv1"] == (5, 5, 1, c2 * 96 // 256) and shapes["conv2"] == (5, 5, c2 * 96 // 256, c2)
    acts = alex.activations(jnp.ones((2, 28, 28, 1)))
    assert acts["fc1"].shape == (2, 384) and acts["fc2"].shape == (2, 192) and acts["fc3"].shape == (2, 10)
    for bn in (alex.bn1, alex.bn2):  # Keras BatchNormalization defaults
        assert bn.momentum == pytest.approx(0.99) and bn.epsilon == pytest.approx(1e-3)
    for layer in ("conv1", "conv2", "fc1", "fc2", "fc3"):  # biases 0.1 everywhere
        np.testing.assert_allclose(np.asarray(getattr(alex, layer).bias[...]), 0.1)
    fc1 = np.asarray(alex.fc1.kernel[...])
    assert fc1.std() == pytest.approx(np.sqrt(2 / sum(fc1.shape)), rel=0.05)  # Glorot normal
    old = build_model(ModelConfig(name="minialexnet", conv_width=conv_width, pool_stride=2), seed=0)
    assert old.fc1.kernel.shape == (49 * c2, 384)  # the earlier variant, kept as a named option


@pytest.mark.parametrize("c1", [4, 12])
def test_minialexnet_channels_give_the_papers_fc1_for_a_narrow_conv1(c1):
    # FC1's shape depends only on conv2's channels: c2 = 256 gives the paper's 4096 x 384 (Q = 10.67).
    cfg = ModelConfig(name="minialexnet", conv_width=0.125, channels=[c1, 256])
    assert cfg.conv_channels() == (c1, 256)
    shapes = {k: v.shape for k, v in weight_matrices(build_model(cfg, seed=0)).items()}
    assert shapes["fc1"] == (4096, 384) and shapes["fc2"] == (384, 192)
    assert shapes["conv1"] == (5, 5, 1, c1) and shapes["conv2"] == (5, 5, c1, 256)


@pytest.mark.parametrize("bad", [[12], [12, 0], [12, 2.5], [1, 2, 3]])
def test_minialexnet_channels_refuse_anything_but_two_positive_integers(bad):
    with pytest.raises(ValueError, match="model.channels must be two positive integers"):
        ModelConfig(name="minialexnet", channels=bad).conv_channels()


def test_softmax_mse_is_keras_mse_on_probabilities():
    from flax import nnx

    from simulations.train.steps import make_loss

    class Fixed(nnx.Module):
        def __call__(self, x):
            return jnp.log(jnp.array([[1.0, 3.0], [1.0, 1.0]]))  # softmax: (0.25, 0.75), (0.5, 0.5)

    y = jnp.array([0, 1])
    total, _ = make_loss("softmax_mse", {})(Fixed(), None, y)
    # ((0.25 - 1)^2 + 0.75^2) / 2 = 0.5625 and ((0.5)^2 + (0.5)^2) / 2 = 0.25; mean 0.40625
    assert float(total) == pytest.approx(0.40625)
    logits_mse, _ = make_loss("mse", {})(Fixed(), None, y)
    assert float(logits_mse) != pytest.approx(0.40625)
    with pytest.raises(ValueError, match="softmax_mse"):
        make_loss("hinge", {})


def test_sgd_is_keras_momentum_with_a_per_epoch_staircase():
    from simulations.train.steps import make_optimizer

    cfg = TrainConfig()
    cfg.optimizer.lr, cfg.optimizer.momentum, cfg.optimizer.lr_decay = 0.01, 0.9, 0.5
    opt = make_optimizer(cfg, steps_per_epoch=2)
    params = jnp.zeros(1)
    state = opt.init(params)
    updates = []
    for _ in range(3):
        u, state = opt.update(jnp.ones(1), state, params)
        updates.append(float(u[0]))
    # Keras: v <- 0.9 v - lr_t g with lr 0.01, 0.01, then 0.005 in the second epoch.
    np.testing.assert_allclose(updates, [-0.01, -0.019, -0.0221], rtol=1e-6)


def test_per_image_standardisation_of_known_images():
    from simulations.train.data import standardize_images

    half = np.zeros((1, 28, 28, 1), np.float32)
    half[0, :14] = 1.0  # mean 0.5, std 0.5: pixels become +-1
    flat = np.full((1, 28, 28, 1), 0.3, np.float32)  # std 0: divided by the floor 1/sqrt(784), mean removed
    out = standardize_images(np.concatenate([half, flat]))
    np.testing.assert_allclose(out[0, :14], 1.0, rtol=1e-6)
    np.testing.assert_allclose(out[0, 14:], -1.0, rtol=1e-6)
    np.testing.assert_allclose(out[1], 0.0, atol=1e-6)
    d = load_data(DataConfig(subset=300, val_size=0, standardize="image"))
    per_image = d.train.x.reshape(300, -1)
    np.testing.assert_allclose(per_image.mean(1), 0, atol=1e-5)
    np.testing.assert_allclose(per_image.std(1), 1, rtol=1e-4)
    assert d.train.x.shape == (300, 28, 28, 1) and d.val is d.test  # val_size=0: validate on the test set
    with pytest.raises(ValueError, match="standardize"):
        load_data(DataConfig(name="synthetic", standardize="batch"))


@pytest.mark.parametrize("padding", ["VALID", "SAME"])
def test_cpu_conv_and_pool_compute_what_lax_computes(padding):
    rng = np.random.default_rng(3)
    x = jnp.asarray(rng.standard_normal((3, 14, 13, 4)), jnp.float32)
    kernel = jnp.asarray(rng.standard_normal((5, 5, 4, 6)), jnp.float32)

    def net(x, impl):
        y = conv2d(x, kernel, padding, impl=impl)
        return (max_pool(y, 3, 2, padding, impl=impl), max_pool(y, 2, 2, padding, impl=impl),
                max_pool(y, 3, 3, padding, impl=impl))

    for ours, ref in zip(net(x, "im2col"), net(x, "lax"), strict=True):
        assert ours.shape == ref.shape
        np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-4)
    grads = [jax.grad(lambda x, impl=impl: sum(jnp.sum(y ** 2) for y in net(x, impl)))(x) for impl in ("im2col", "lax")]
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-4, atol=1e-3)
    with pytest.raises(ValueError, match="impl"):
        conv2d(x, kernel, padding, impl="fft")
    with pytest.raises(ValueError, match="padding"):
        conv2d(x, kernel, "FULL")


def test_data_splits_noise_and_determinism():
    d = load_data(DataConfig(name="synthetic", subset=1000, val_size=500, label_noise=0.3, seed=3))
    assert d.train.x.shape == (1000, 28, 28, 1) and d.val.x.shape == (500, 28, 28, 1)
    assert d.noisy.mean() == pytest.approx(0.3, abs=0.05)
    assert abs(float(d.train.x.mean())) < 1e-3
    again = load_data(DataConfig(name="synthetic", subset=1000, val_size=500, label_noise=0.3, seed=3))
    np.testing.assert_array_equal(d.train.y, again.train.y)
    with pytest.raises(ValueError, match="label_noise"):
        load_data(DataConfig(name="synthetic", label_noise=1.5))


def test_fashion_mnist_real_data():
    d = load_data(DataConfig(subset=2000))
    assert d.train.x.shape == (2000, 28, 28, 1) and d.test.x.shape == (10000, 28, 28, 1)
    assert set(np.unique(d.test.y)) == set(range(10)) and np.bincount(d.test.y).tolist() == [1000] * 10


def test_missing_dataset_names_the_package(tmp_path):
    with pytest.raises(DatasetMissingError, match="dataset-fashion-mnist"):
        load_data(DataConfig(data_dir=str(tmp_path)))


def _tiny(tmp_path, **kw):
    base = dict(model=ModelConfig(name="tiny", width=32), data=DataConfig(name="synthetic", subset=1024, val_size=500),
                batch_size=32, epochs=3, progress=False)
    base.update(kw)
    return TrainConfig(**base)


@pytest.mark.slow
def test_run_writes_history_checkpoints_figures_and_skips_when_done(tmp_path):
    cfg = _tiny(tmp_path)
    cfg.analysis.layers = ["fc1", "fc2"]
    cfg.analysis.min_evals = 16
    result = run(cfg, tmp_path)
    assert result["test_acc"] > 0.3  # 10 classes: chance is 0.1
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    assert metrics.epoch.tolist() == [1, 2, 3] and (metrics.analysis_seconds > 0).all()
    spectral = pd.read_csv(tmp_path / "spectral.csv")
    assert sorted(spectral.epoch.unique()) == [0, 1, 2, 3]
    fc1 = spectral[spectral.name == "fc1"]
    assert (fc1.status == "ok").all() and fc1.alpha.notna().all() and (fc1.N == 784).all() and (fc1.M == 32).all()
    assert spectral[spectral.name == "fc2"].status.eq("skipped").all()  # 32 x 10: below min_evals = 16
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [f"epoch_00{i}.safetensors" for i in (0, 1, 2, 3)]
    for name in ("DONE.json", "final_weights.safetensors", "phases.png", "esd_fc1.png", "config.json"):
        assert (tmp_path / name).stat().st_size > 0
    assert not (tmp_path / "state").exists()
    assert json.loads((tmp_path / "DONE.json").read_text())["layer_shapes"] == {"fc1": [784, 32], "fc2": [32, 10]}
    assert json.loads((tmp_path / "DONE.json").read_text())["fc1_phase"] in (
        "random-like", "bleeding-out", "bulk+spikes", "bulk-decay", "heavy-tailed", "rank-collapse")
    start = time.perf_counter()
    assert run(cfg, tmp_path) == result and time.perf_counter() - start < 2  # finished: skipped


@pytest.mark.slow
def test_weight_decay_shrinks_the_named_layer_and_bad_names_fail(tmp_path):
    plain = _tiny(tmp_path, epochs=2)
    decayed = _tiny(tmp_path, epochs=2)
    decayed.optimizer.weight_decay = {"fc1": 0.05}
    run(plain, tmp_path / "plain")
    run(decayed, tmp_path / "decayed")
    norm = lambda d: float(pd.read_csv(d / "spectral.csv").query("epoch == 2 and name == 'fc1'").log_norm.iloc[0])
    assert norm(tmp_path / "decayed") < norm(tmp_path / "plain") - 0.3
    bad = _tiny(tmp_path)
    bad.optimizer.weight_decay = {"fc9": 1.0}
    with pytest.raises(ValueError, match="unknown layers"):
        run(bad, tmp_path / "bad")


def _cli(*args, **kw):
    return subprocess.Popen([sys.executable, "-m", "simulations.train", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **kw)


@pytest.mark.slow
def test_a_killed_run_resumes_from_its_last_epoch(tmp_path):
    out = tmp_path / "run"
    args = ["model=tiny", "data=synthetic", "data.subset=2048", "batch_size=8", "epochs=40", "progress=false",
            "analysis.layers=[fc1]", f"hydra.run.dir={out}"]
    proc = _cli(*args)
    deadline = time.time() + 120
    while not (out / "state" / "epoch.json").exists() and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = json.loads((out / "state" / "epoch.json").read_text())["epoch"]
    assert 1 <= killed_at < 40 and not (out / "DONE.json").exists()
    proc = _cli(*args)
    log, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, log[-3000:]
    assert f"resuming {out} after epoch" in (out / "main.log").read_text()
    metrics = pd.read_csv(out / "metrics.csv")
    assert metrics.epoch.tolist() == list(range(1, 41))  # every epoch exactly once
    assert (out / "DONE.json").exists()


@pytest.mark.slow
def test_smoke_multirun_with_a_failing_job_and_the_collector(tmp_path):
    sweep = tmp_path / "sweep"
    proc = _cli("-m", "debug=smoke", "data=synthetic", "batch_size=16,32,64", "fail_at_epoch=0,1", "progress=false",
                "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={sweep}")
    log, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, log[-3000:]
    assert collect.main([str(sweep)]) == 0
    runs = pd.read_csv(sweep / "runs.csv")
    assert len(runs) == 6
    assert (runs[runs.fail_at_epoch == 1].status == "failed").all()
    done = runs[runs.status == "done"]
    assert sorted(done.batch_size) == [16, 32, 64] and (done.test_acc > 0.15).all()
    assert {"alpha_hat", "log_norm", "fc1_alpha", "fc1_phase"} <= set(done.columns)
    cap = pd.read_csv(sweep / "capacity.csv")
    assert set(cap.metric) == {"alpha_hat", "log_norm", "log_spectral_norm", "log_alpha_norm"}
    assert cap.kendall_tau.between(-1, 1).all() and (cap.runs == 3).all()
    assert (sweep / "sweep_fc1.png").stat().st_size > 0
    # Re-running the sweep skips the finished runs.
    proc = _cli("-m", "debug=smoke", "data=synthetic", "batch_size=16", "fail_at_epoch=0", "progress=false",
                f"hydra.sweep.dir={sweep}")
    log, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0 and "already finished: skipping" in log


@pytest.mark.slow
def test_submitit_local_launcher_runs_a_job(tmp_path):
    proc = _cli("-m", "debug=smoke", "data=synthetic", "progress=false", "hydra/launcher=submitit_local",
                f"hydra.sweep.dir={tmp_path}")
    log, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, log[-3000:]
    done = list(tmp_path.rglob("DONE.json"))
    assert len(done) == 1 and json.loads(done[0].read_text())["test_acc"] > 0.15


def test_collector_on_an_empty_folder(tmp_path):
    assert collect.main([str(tmp_path)]) == 2


@pytest.mark.parametrize(("field", "value", "message"), [
    ("epochs", 0, "epochs must be an integer >= 1"), ("batch_size", 0, "batch_size must be an integer >= 1"),
    ("lr", float("nan"), "optimizer.lr must be finite"), ("lr", float("inf"), "optimizer.lr must be finite")])
def test_bad_numbers_are_refused_before_anything_is_written(tmp_path, field, value, message):
    cfg = TrainConfig(model=ModelConfig(name="tiny", width=16), data=DataConfig(name="synthetic", subset=128, val_size=32),
                      epochs=1, batch_size=32, progress=False)
    if field == "lr":
        cfg.optimizer.lr = value
    else:
        setattr(cfg, field, value)
    with pytest.raises(ValueError, match=message):
        run(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_a_diverging_run_says_so_and_keeps_its_last_finite_epoch(tmp_path):
    from simulations.train.run import TrainingDiverged
    from simulations.train.state import config_differences

    cfg = TrainConfig(model=ModelConfig(name="tiny", width=16), data=DataConfig(name="synthetic", subset=256, val_size=32),
                      epochs=3, batch_size=32, loss="mse", progress=False)
    cfg.optimizer.lr = 1e6
    with pytest.raises(TrainingDiverged, match="training diverged in epoch 1"):
        run(cfg, tmp_path)
    assert not (tmp_path / "DONE.json").exists() and not (tmp_path / "final_weights.safetensors").exists()
    # The resume check treats NaN as equal to itself, and a field added later (default None) as unchanged.
    assert config_differences({"optimizer": {"lr": float("nan")}}, {"optimizer": {"lr": float("nan")}}) == []
    assert config_differences({"model": {"name": "x"}}, {"model": {"name": "x", "channels": None}}) == []
    assert config_differences({"model": {"name": "x"}}, {"model": {"name": "x", "channels": [1, 2]}}) != []
