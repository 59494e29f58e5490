"""A model of a zoo multirun analysed in a child process, so that a model that kills its process never stops the others.

The launcher's worker (a joblib process, a SLURM task) waits on the child. A model that runs out of
memory is SIGKILLed with its child (``oom_score_adj`` makes the child the OOM killer's first
choice); the worker survives, writes ``FAILED.json`` and returns, and the next model starts. A
SIGKILLed joblib worker would instead abort the whole multirun (loky's ``TerminatedWorkerError``).
Finished models are skipped here, before a child is started.

The child: ``python -m simulations.zoo.job OUT_DIR LOG_FILE PARENT_PID`` with the ``ZooConfig`` as
JSON on stdin; exit status 0 finished, 1 failed (``FAILED.json`` written).
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
from pathlib import Path

from omegaconf import OmegaConf

from simulations.zoo.config import ZooConfig, model_name
from simulations.zoo.run import analyse, start

log = logging.getLogger(__name__)

#: Added to the child's OOM badness (-1000..1000): out of memory, the kernel kills the analysis, not its worker.
OOM_SCORE_ADJ = 500


def analyse_in_child(cfg: ZooConfig, out: Path, log_file: str | None = None) -> dict | None:
    """:func:`simulations.zoo.run.analyse` in a child process; a crash or a kill of it becomes ``FAILED.json``.

    The child appends its log to ``log_file`` (the job's Hydra log) and prints it as this process would.
    """
    from rmtkit.io import write_atomically

    done = start(cfg, out)
    if done is not None:
        return done
    proc = subprocess.run([sys.executable, "-m", "simulations.zoo.job", str(out), log_file or "", str(os.getpid())],
                          input=json.dumps(dataclasses.asdict(cfg)), text=True, check=False)
    if proc.returncode == 0:
        return json.loads((out / "DONE.json").read_text())
    if proc.returncode == 1 and (out / "FAILED.json").exists():
        return None
    if proc.returncode < 0:
        name = signal.Signals(-proc.returncode).name
        error = f"killed by {name}" + (" (the OOM killer sends it when memory runs out)" if name == "SIGKILL" else "")
    else:
        error = f"the analysis process exited with status {proc.returncode}"
    log.error("%s failed: %s", model_name(cfg.checkpoint), error)
    write_atomically(out / "FAILED.json", json.dumps({"model": model_name(cfg.checkpoint), "checkpoint": cfg.checkpoint,
                                                      "error": error, "returncode": proc.returncode}, indent=1).encode())
    return None


def _child_of(parent: int) -> None:
    """Linux: be the OOM killer's first choice, and die with the worker that waits on this process."""
    try:
        adj = Path("/proc/self/oom_score_adj")
        adj.write_text(str(max(int(adj.read_text()), OOM_SCORE_ADJ)))  # raising it needs no privilege
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError, ValueError):  # not Linux: the zoo is as robust as its launcher
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
    logging.getLogger("jax").setLevel(logging.WARNING)
    cfg = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(ZooConfig), json.loads(sys.stdin.read())))
    return 0 if analyse(cfg, out) is not None else 1


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
