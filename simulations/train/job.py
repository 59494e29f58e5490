"""One training run as a job, recorded as ``DONE.json`` or ``FAILED.json`` in its folder.

A single run trains in this process (:func:`run_job`). A job of a sweep trains in a child process that
the launcher's worker waits on (:func:`run_in_child`): the child holds the memory and volunteers as the
OOM killer's victim (``oom_score_adj``), so the worker survives to write ``FAILED.json`` and return. A
SIGKILLed joblib worker would instead abort the whole sweep (loky's ``TerminatedWorkerError``), the other
jobs with it; should that happen anyway, the child dies with its worker rather than train on beside a
rerun. Rerunning the sweep resumes the killed job from its last saved epoch.

The child: ``python -m simulations.train.job OUT_DIR LOG_FILE PARENT_PID`` with the ``TrainConfig`` as JSON on stdin;
exit status 0 finished, 1 failed (``FAILED.json`` written); :mod:`simulations.child` holds what the
training suite and the model zoo share.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from pathlib import Path

from simulations.child import child_main, run_child
from simulations.train.config import TrainConfig

log = logging.getLogger(__name__)


def run_job(cfg: TrainConfig, out: Path) -> dict | None:
    """Train ``cfg`` into ``out`` in this process: the final figures, or None after writing ``FAILED.json``."""
    from rmtkit.atomic import write_atomically
    from simulations.train.run import configure_threads

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
        write_atomically(out / "FAILED.json", json.dumps({"error": f"{type(err).__name__}: {err}",
                                                          "traceback": traceback.format_exc()}, indent=1).encode())
        return None
    (out / "FAILED.json").unlink(missing_ok=True)
    log.info("final: %s", {k: v for k, v in result.items() if k in ("train_acc", "test_acc", "gap")})
    return result


def run_in_child(cfg: TrainConfig, out: Path, log_file: str | None = None) -> dict | None:
    """Train ``cfg`` into ``out`` in a child process; a crash or a kill of it becomes ``FAILED.json``.

    The child appends its log to ``log_file`` (the job's Hydra log) and prints it as this process would.
    """
    from rmtkit.atomic import write_atomically

    out.mkdir(parents=True, exist_ok=True)
    (out / "FAILED.json").unlink(missing_ok=True)  # this attempt's outcome replaces the last one's
    code, error = run_child("simulations.train.job", cfg, out, log_file, "training")
    if code == 0:
        return json.loads((out / "DONE.json").read_text())
    if error is None:
        return None
    log.error("run failed: %s; rerun the sweep to resume it from its last saved epoch", error)
    write_atomically(out / "FAILED.json", json.dumps({"error": error, "returncode": code}, indent=1).encode())
    return None


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:], TrainConfig, run_job))
