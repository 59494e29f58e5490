"""Configs are tested like code: every YAML composes, none restates a schema default, and the composed
values of every existing configuration are those recorded before the YAML files were slimmed down
(``fixtures/composed_configs.json``, written once from the earlier configs and never regenerated; the
cases of a primary added later, such as ``zoo``, and of a later experiment, such as ``paper_shape_sweep``,
were added to it once, when its YAML was written)."""

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from simulations.calibration.config import register_configs as register_calibration
from simulations.entry import CONFIG_DIR
from simulations.train.config import register_configs as register_train
from simulations.universality.config import register_configs as register_universality
from simulations.vsdl.config import register_configs as register_vsdl
from simulations.zoo.config import register_configs as register_zoo

CONF = Path(CONFIG_DIR)
FIXTURE = Path(__file__).parent / "fixtures" / "composed_configs.json"

#: Each primary config and the groups it chooses from (every option file of each group is composed).
PRIMARIES = {"calibration": ["ensemble"], "universality": [], "vsdl": [],
             "train": ["model", "data", "optimizer", "analysis", "experiment", "hydra/launcher"],
             "zoo": ["hydra/launcher"]}
#: The Hydra settings a configuration decides (output folders, sweep parameters, launcher).
HYDRA_KEYS = ["run", "sweep", "sweeper", "launcher", "job.config.override_dirname.exclude_keys"]


def _register():
    for register in (register_calibration, register_train, register_universality, register_vsdl, register_zoo):
        register()


def cases() -> dict[str, tuple[str, list[str]]]:
    """``{case id: (primary, overrides)}``: every primary alone, with ``debug=smoke``, and with every option."""
    out = {}
    for primary, groups in PRIMARIES.items():
        out[primary] = (primary, [])
        out[f"{primary} debug=smoke"] = (primary, ["debug=smoke"])
        for group in groups:
            for option in sorted((CONF / group).glob("*.yaml")):
                override = f"{group}={option.stem}"
                out[f"{primary} {override}"] = (primary, [override])
    out["train experiment=batch_size_sweep hydra/launcher=slurm"] = ("train", ["experiment=batch_size_sweep",
                                                                                "hydra/launcher=slurm"])
    out["vsdl student=spherical"] = ("vsdl", ["student=spherical"])
    return out


def composed(primary: str, overrides: list[str]) -> dict:
    """The job config (unresolved: ``${now:...}`` stays a string) and the Hydra settings it decides."""
    _register()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name=primary, overrides=overrides, return_hydra_config=True)
    hydra = {key: OmegaConf.to_container(OmegaConf.select(cfg.hydra, key)) if OmegaConf.is_config(
        OmegaConf.select(cfg.hydra, key)) else OmegaConf.select(cfg.hydra, key) for key in HYDRA_KEYS}
    job = OmegaConf.to_container(cfg)
    job.pop("hydra")
    return {"job": job, "hydra": hydra}


def compose_all() -> dict:
    return {case: composed(primary, overrides) for case, (primary, overrides) in cases().items()}


#: Keys renamed since the fixture was written: the VSDL load was ``grid.alpha`` (alpha is the power-law
#: exponent everywhere else in rmtkit).
RENAMED = {"vsdl": {"grid.alpha": "grid.load"}}
#: Keys added since, with the default every earlier configuration composes to: MiniAlexNet's separate channel
#: knob ``model.channels`` (None: ``conv_width`` decides, as before).
ADDED = {"train": {"model.channels": None}}


def _renamed(primary: str, job: dict) -> dict:
    job = json.loads(json.dumps(job))
    for old, new in RENAMED.get(primary, {}).items():
        *parents, leaf = old.split(".")
        node = job
        for key in parents:
            node = node[key]
        node[new.split(".")[-1]] = node.pop(leaf)
    for key, value in ADDED.get(primary, {}).items():
        *parents, leaf = key.split(".")
        node = job
        for part in parents:
            node = node[part]
        node.setdefault(leaf, value)
    return job


def test_the_fixture_covers_every_case_and_the_cases_every_yaml_file():
    assert set(json.loads(FIXTURE.read_text())) == set(cases())
    chosen = {f"{group}/{option}.yaml" for _, overrides in cases().values() for o in overrides
              for group, option in [o.split("=")] if (CONF / group).is_dir()}
    assert {str(p.relative_to(CONF)) for p in CONF.rglob("*.yaml")} == chosen | {f"{p}.yaml" for p in PRIMARIES}


@pytest.mark.parametrize("case", sorted(cases()))
def test_composed_config_is_unchanged(case):
    primary, overrides = cases()[case]
    before = json.loads(FIXTURE.read_text())[case]
    now = composed(primary, overrides)
    assert now["job"] == _renamed(primary, before["job"])
    assert now["hydra"] == before["hydra"]


def _leaves(node, prefix=""):
    """``{dotted key: value}`` of a YAML body; lists and empty mappings are leaves."""
    if isinstance(node, dict) and node:
        return {k: v for key, child in node.items() for k, v in _leaves(child, f"{prefix}{key}.").items()}
    return {prefix[:-1]: node}


def _baseline(path: Path, raw: dict):
    """What the file's values land on: the schema it extends, or the composition without the file's values."""
    _register()
    rel = path.relative_to(CONF)
    head = raw.get("defaults", [None])[0]
    if rel.parts[0] == "experiment":
        choices = [f"{k.removeprefix('override /')}={v}" for d in raw["defaults"] for k, v in d.items()]
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            return compose(config_name="train", overrides=choices)
    if rel.parts[0] == "hydra":
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            return compose(config_name="train", overrides=[f"hydra/launcher={head}"],
                           return_hydra_config=True).hydra.launcher
    if rel == Path("debug/smoke.yaml"):
        return ConfigStore.instance().load("train_schema.yaml").node
    group = "" if len(rel.parts) == 1 else f"{rel.parent}/"
    return ConfigStore.instance().load(f"{group}{head}.yaml").node


def restated(path: Path, raw: dict) -> list[str]:
    """The keys of a YAML file (``raw``, as loaded) whose values equal what they land on without it, and the
    group choices of an experiment that equal ``train.yaml``'s."""
    body = {k: v for k, v in raw.items() if k not in ("defaults", "hydra")}
    base = _baseline(path, raw)
    out = [key for key, value in _leaves(body).items()
           if OmegaConf.select(base, key, default="<absent>") != "<absent>"
           and OmegaConf.to_container(OmegaConf.create({"v": OmegaConf.select(base, key)}))["v"] == value]
    if path.parent.name == "experiment":
        primary = OmegaConf.to_container(OmegaConf.load(CONF / "train.yaml"))["defaults"]
        default_choice = {k: v for d in primary if isinstance(d, dict) for k, v in d.items()}
        out += [k for d in raw["defaults"] for k, v in d.items() if default_choice.get(k.removeprefix("override /")) == v]
    return out


@pytest.mark.parametrize("path", sorted(CONF.rglob("*.yaml")), ids=lambda p: str(p.relative_to(CONF)))
def test_no_yaml_file_restates_a_default(path):
    assert restated(path, OmegaConf.to_container(OmegaConf.load(path))) == []


def test_a_restated_default_is_caught():
    """The check on files that restate defaults: LeNet5's name and width; an experiment re-choosing SGD."""
    lenet = {"defaults": ["model_schema", "_self_"], "name": "lenet5", "width": 512, "conv_width": 0.5}
    assert restated(CONF / "model" / "lenet5.yaml", lenet) == ["name", "width"]
    sweep = OmegaConf.to_container(OmegaConf.load(CONF / "experiment" / "batch_size_sweep.yaml"))
    sweep["defaults"].append({"override /optimizer": "sgd"})
    sweep["analysis"] = {"layers": ["fc1", "fc2"], "every": 2}
    assert restated(CONF / "experiment" / "batch_size_sweep.yaml", sweep) == ["analysis.layers", "override /optimizer"]


if __name__ == "__main__":  # written once, from the configs as they were before slimming (see the docstring)
    FIXTURE.write_text(json.dumps(compose_all(), indent=1, sort_keys=True) + "\n")
