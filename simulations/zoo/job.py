"""A model of a zoo multirun analysed in a child process, so that a model that kills its process never stops the others.

The launcher's worker (a joblib process, a SLURM task) waits on the child. A model that runs out of
memory is SIGKILLed with its child (``oom_score_adj`` makes the child the OOM killer's first
choice); the worker survives, writes ``FAILED.json`` and returns, and the next model starts. A
SIGKILLed joblib worker would instead abort the whole multirun (loky's ``TerminatedWorkerError``).
Finished models are skipped here, before a child is started.

The child: ``python -m simulations.zoo.job OUT_DIR LOG_FILE PARENT_PID`` with the ``ZooConfig`` as
JSON on stdin; exit status 0 finished, 1 failed (``FAILED.json`` written); :mod:`simulations.child`
holds what the zoo and the training suite share.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from simulations.child import child_main, run_child
from simulations.zoo.config import ZooConfig, model_name
from simulations.zoo.run import analyse, start

log = logging.getLogger(__name__)


def analyse_in_child(cfg: ZooConfig, out: Path, log_file: str | None = None) -> dict | None:
    """:func:`simulations.zoo.run.analyse` in a child process; a crash or a kill of it becomes ``FAILED.json``.

    The child appends its log to ``log_file`` (the job's Hydra log) and prints it as this process would.
    """
    from rmtkit.atomic import write_atomically

    done = start(cfg, out)
    if done is not None:
        return done
    code, error = run_child("simulations.zoo.job", cfg, out, log_file, "analysis")
    if code == 0:
        return json.loads((out / "DONE.json").read_text())
    if error is None:
        return None
    log.error("%s failed: %s", model_name(cfg.checkpoint), error)
    write_atomically(out / "FAILED.json", json.dumps({"model": model_name(cfg.checkpoint), "checkpoint": cfg.checkpoint,
                                                      "error": error, "returncode": code}, indent=1).encode())
    return None


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:], ZooConfig, analyse))
