"""One training run as a job, recorded as ``DONE.json`` or ``FAILED.json`` in its folder.

A single run trains in this process (:func:`run_job`). A job of a sweep trains in a child process that
the launcher's worker waits on (:func:`run_in_child`): the child holds the memory and volunteers as the
OOM killer's victim (``oom_score_adj``), so the worker survives to write ``FAILED.json`` and return. A
SIGKILLed joblib worker would instead abort the whole sweep (loky's ``TerminatedWorkerError``), the other
jobs with it; should that happen anyway, the child dies with its worker rather than train on beside a
rerun. Rerunning the sweep resumes the killed job from its last saved epoch.

The child: ``python -m simulations.train.job OUT_DIR LOG_FILE PARENT_PID`` with the ``TrainConfig`` as JSON on stdin;
exit status 0 finished, 1 failed (``FAILED.json`` written).
"""

from __future__ import annotations

import ctypes
import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
import traceback
from pathlib import Path

from omegaconf import OmegaConf

from simulations.train.config import TrainConfig

log = logging.getLogger(__name__)


def run_job(cfg: TrainConfig, out: Path) -> dict | None:
    """Train ``cfg`` into ``out`` in this process: the final figures, or None after writing ``FAILED.json``."""
    from simulations.train.run import atomic_write, configure_threads

    configure_threads(cfg.threads)  # before JAX's backend starts in this process
    import jax

    jax.config.update("jax_enable_x64", cfg.x64)
    logging.getLogger("jax").setLevel(logging.WARNING)
    from simulations.train.run import run

    try:
        result = run(cfg, out)
    except Exception as err:
        log.error("run failed: %s", err)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write(out / "FAILED.json", json.dumps({"error": f"{type(err).__name__}: {err}",
                                                      "traceback": traceback.format_exc()}, indent=1))
        return None
    (out / "FAILED.json").unlink(missing_ok=True)
    log.info("final: %s", {k: v for k, v in result.items() if k in ("train_acc", "test_acc", "gap")})
    return result


def run_in_child(cfg: TrainConfig, out: Path, log_file: str | None = None) -> dict | None:
    """Train ``cfg`` into ``out`` in a child process; a crash or a kill of it becomes ``FAILED.json``.

    The child appends its log to ``log_file`` (the job's Hydra log) and prints it as this process would.
    """
    from simulations.train.run import atomic_write

    out.mkdir(parents=True, exist_ok=True)
    (out / "FAILED.json").unlink(missing_ok=True)  # this attempt's outcome replaces the last one's
    proc = subprocess.run([sys.executable, "-m", "simulations.train.job", str(out), log_file or "", str(os.getpid())],
                          input=json.dumps(dataclasses.asdict(cfg)), text=True, check=False)
    if proc.returncode == 0:
        return json.loads((out / "DONE.json").read_text())
    if proc.returncode == 1 and (out / "FAILED.json").exists():
        return None
    if proc.returncode < 0:
        name = signal.Signals(-proc.returncode).name
        error = f"killed by {name}" + (" (the OOM killer sends it when memory runs out)" if name == "SIGKILL" else "")
    else:
        error = f"the training process exited with status {proc.returncode}"
    log.error("run failed: %s; rerun the sweep to resume it from its last saved epoch", error)
    atomic_write(out / "FAILED.json", json.dumps({"error": error, "returncode": proc.returncode}, indent=1))
    return None


#: Added to the child's OOM badness (-1000..1000): out of memory, the kernel kills the training, not its worker.
OOM_SCORE_ADJ = 500


def _child_of(parent: int) -> None:
    """Linux: be the OOM killer's first choice, and die with the worker that waits on this process."""
    try:
        adj = Path("/proc/self/oom_score_adj")
        adj.write_text(str(max(int(adj.read_text()), OOM_SCORE_ADJ)))  # raising it needs no privilege
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError, ValueError):  # not Linux: the sweep is as robust as its launcher
        return
    if os.getppid() != parent:  # the worker died before prctl took effect
        os.kill(os.getpid(), signal.SIGKILL)


def _child(argv: list[str]) -> int:
    out, log_file, parent = Path(argv[0]), argv[1], int(argv[2])
    _child_of(parent)
    fmt = logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")  # Hydra's job format
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stdout)]
    if log_file:
        handlers.append(logging.FileHandler(log_file, mode="a"))
    for h in handlers:
        h.setFormatter(fmt)
    logging.basicConfig(level=logging.INFO, handlers=handlers)
    cfg = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(TrainConfig), json.loads(sys.stdin.read())))
    return 0 if run_job(cfg, out) is not None else 1


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
