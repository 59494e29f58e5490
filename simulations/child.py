"""A job in a child process that the launcher's worker waits on, so that a job that is killed never stops the others.

Both the training suite (:mod:`simulations.train.job`) and the model zoo (:mod:`simulations.zoo.job`)
run each job of a multirun this way. The child holds the memory and volunteers as the OOM killer's
victim (``oom_score_adj``); the worker survives to write ``FAILED.json`` and return. A SIGKILLed
joblib worker would instead abort the whole multirun (loky's ``TerminatedWorkerError``); should that
happen anyway, the child dies with its worker (``PR_SET_PDEATHSIG``).

The child: ``python -m MODULE OUT_DIR LOG_FILE PARENT_PID`` with the job's config as JSON on stdin;
exit status 0 finished, 1 failed (``FAILED.json`` written by the child).
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

#: Added to the child's OOM badness (-1000..1000): out of memory, the kernel kills the job, not its worker.
OOM_SCORE_ADJ = 500


def run_child(module: str, cfg: Any, out: Path, log_file: str | None, what: str) -> tuple[int, str | None]:
    """Run ``python -m module`` on the dataclass ``cfg``; its exit status, and why it failed if it could not say.

    The error is None when the child ended on its own terms (0, or 1 with ``out/FAILED.json``); else
    it names the signal that killed it or its exit status (``what``: "training", "analysis").
    """
    proc = subprocess.run([sys.executable, "-m", module, str(out), log_file or "", str(os.getpid())],
                          input=json.dumps(dataclasses.asdict(cfg)), text=True, check=False)
    if proc.returncode == 0 or (proc.returncode == 1 and (out / "FAILED.json").exists()):
        return proc.returncode, None
    if proc.returncode < 0:
        name = signal.Signals(-proc.returncode).name
        return proc.returncode, f"killed by {name}" + (
            " (the OOM killer sends it when memory runs out)" if name == "SIGKILL" else "")
    return proc.returncode, f"the {what} process exited with status {proc.returncode}"


def _child_of(parent: int) -> None:
    """Linux: be the OOM killer's first choice, and die with the worker that waits on this process."""
    try:
        adj = Path("/proc/self/oom_score_adj")
        adj.write_text(str(max(int(adj.read_text()), OOM_SCORE_ADJ)))  # raising it needs no privilege
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError, ValueError):  # not Linux: the multirun is as robust as its launcher
        return
    if os.getppid() != parent:  # the worker died before prctl took effect
        os.kill(os.getpid(), signal.SIGKILL)


def child_main(argv: list[str], schema: type, job: Callable[[Any, Path], Any]) -> int:
    """The child's side: ``argv = [OUT_DIR, LOG_FILE, PARENT_PID]``, the config on stdin; 0 when ``job`` returned a result."""
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
    cfg = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema), json.loads(sys.stdin.read())))
    return 0 if job(cfg, out) is not None else 1
