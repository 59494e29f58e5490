"""One model of the zoo: analyse it into its folder, recorded as ``DONE.json`` or ``FAILED.json``.

A model's folder holds ``config.json`` (the job's configuration), then either ``layers.csv`` (the
table of :meth:`rmtkit.analysis.Analysis.to_frame`, its provenance and :func:`rmtkit.summarize` in
``layers.csv.meta.json``) and ``DONE.json``, or ``FAILED.json`` with the error. A model is finished
when ``DONE.json`` and ``layers.csv`` are there and ``DONE.json`` records the same checkpoint (path,
size and SHA-256 of every file) and the same analysis options, and its table and sidecar read back
(none of them torn): a rerun skips it; otherwise it is analysed again.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
import traceback
from pathlib import Path

from simulations.zoo.config import ZooConfig, model_name

log = logging.getLogger(__name__)

RESULT = "layers.csv"


def checkpoint_identity(checkpoint: str) -> dict:
    """The checkpoint's absolute path and, per file (every file of a folder), its size and SHA-256.

    By content, never by size and modification time alone: a checkpoint overwritten by another of
    the same size, its time restored, is analysed again (:mod:`rmtkit.checkpoints.identity`).
    """
    from rmtkit.checkpoints.identity import content_identity

    return content_identity(checkpoint)


def job_key(cfg: ZooConfig) -> dict:
    """What a model's results depend on: the checkpoint's identity and the analysis options."""
    return {"checkpoint": checkpoint_identity(cfg.checkpoint), "analysis": dataclasses.asdict(cfg.analysis)}


def finished(cfg: ZooConfig, out: Path) -> dict | None:
    """``DONE.json`` of ``out`` when it holds this model, analysed as ``cfg`` says (:func:`job_key`), else None."""
    from rmtkit.results import read_results

    try:
        done = json.loads((out / "DONE.json").read_text())
        if not isinstance(done, dict) or not (out / RESULT).is_file() or done.get("key") != job_key(cfg):
            return None
        read_results(out / RESULT)  # a torn table or sidecar is not finished: analysed again
        return done
    except (OSError, ValueError, KeyError, TypeError):  # no record, a torn one, or a checkpoint that cannot be read
        return None


def start(cfg: ZooConfig, out: Path) -> dict | None:
    """Before a model is analysed: its folder and ``config.json``; ``DONE.json`` when it is already finished."""
    out.mkdir(parents=True, exist_ok=True)
    done = finished(cfg, out)
    if done is not None:
        log.info("%s already finished: skipping (%s)", done["model"], out / "DONE.json")
        return done
    from rmtkit.atomic import write_atomically

    write_atomically(out / "config.json", json.dumps(dataclasses.asdict(cfg), indent=1).encode())
    for stale in ("DONE.json", "FAILED.json"):  # this attempt's outcome replaces the last one's
        (out / stale).unlink(missing_ok=True)
    return None


def analyse(cfg: ZooConfig, out: Path) -> dict | None:
    """Analyse ``cfg.checkpoint`` into ``out`` in this process: ``DONE.json``'s record, or None after ``FAILED.json``.

    Never raises for a model that cannot be analysed (an unreadable or corrupt checkpoint, a bad
    option): its error goes to ``FAILED.json`` and the log, so the other models of the zoo go on.
    """
    from rmtkit.atomic import write_atomically

    done = start(cfg, out)
    if done is not None:
        return done
    name, tic = model_name(cfg.checkpoint), time.perf_counter()
    try:
        key = job_key(cfg)
        import rmtkit
        from rmtkit.results import write_results

        analysis = rmtkit.analyze(cfg.checkpoint, progress=cfg.progress, spectra_cache=cfg.spectra_cache,
                                  **dataclasses.asdict(cfg.analysis))
        summary = rmtkit.summarize(analysis)
        write_results(analysis, out / RESULT, "csv", summary=summary)
    except Exception as err:
        log.error("%s failed: %s", name, err)
        write_atomically(out / "FAILED.json", json.dumps({"model": name, "checkpoint": cfg.checkpoint,
                                                          "error": f"{type(err).__name__}: {err}",
                                                          "traceback": traceback.format_exc()}, indent=1).encode())
        return None
    done = {"model": name, "checkpoint": cfg.checkpoint, "seconds": round(time.perf_counter() - tic, 3),
            "summary": json.loads(summary.to_json(double_precision=15)), "key": key}
    write_atomically(out / "DONE.json", json.dumps(done, indent=1).encode())
    log.info("%s: %d layers analysed, alpha_hat %.3g (%s)", name, summary["layers_analysed"], summary["alpha_hat"],
             out / RESULT)
    return done
