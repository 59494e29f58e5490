"""The README's Python code blocks run as written (each in a fresh namespace, in an empty folder).

A block that cannot run in the test suite is preceded by ``<!-- readme-test: skip (the reason) -->``,
which the README shows to anyone reading its source; the reason may not be empty.
"""

import json
import re
import struct
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"(?:<!-- readme-test: skip \((?P<reason>[^)]*)\) -->\n)?```python\n(?P<code>.*?)```", re.S)


def blocks() -> list[tuple[int, str, str | None]]:
    """``(line, code, skip reason or None)`` of every ```python block."""
    text = README.read_text()
    return [(text[: m.start("code")].count("\n") + 1, m["code"], m["reason"]) for m in BLOCK.finditer(text)]


def test_there_are_python_blocks_and_every_skip_says_why():
    found = blocks()
    assert len(found) >= 1 and "## Quick start\n\n```python" in README.read_text()
    assert all(reason is None or reason.strip() for _, _, reason in found)
    assert README.read_text().count("```python") == len(found)  # no block escapes the pattern


def _run(code: str, line: int, folder: Path, monkeypatch) -> dict:
    monkeypatch.chdir(folder)
    namespace: dict = {"__name__": "__readme__"}
    exec(compile(code, f"README.md, block at line {line}", "exec"), namespace)  # noqa: S102
    return namespace


@pytest.mark.parametrize(("line", "code", "reason"), blocks(), ids=lambda v: f"line{v}" if isinstance(v, int) else "")
def test_block_runs(line, code, reason, tmp_path, monkeypatch):
    if reason is not None:
        pytest.skip(reason)
    _run(code, line, tmp_path, monkeypatch)


def _tensor_count(path: Path) -> int:
    """Tensors in a safetensors file, read from its header (8-byte little-endian length, then JSON)."""
    with path.open("rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(size))
    return len([k for k in header if k != "__metadata__"])


@pytest.mark.slow
def test_quick_start_gives_the_planted_answers(tmp_path, monkeypatch):
    line, code, _ = blocks()[0]
    ns = _run(code, line, tmp_path, monkeypatch)
    # Two spikes planted above the BBP threshold over unit-variance Gaussian noise (Q = 2).
    assert int(ns["fit"].num_spikes) == 2 and abs(float(ns["fit"].sigma) - 1) < 0.02
    assert abs(float(ns["fit"].lambda_plus) - (1 + 1 / np.sqrt(2)) ** 2) < 0.05
    # The padded batch: three Gaussian spectra of 200, 300, 400 values, then four equal values.
    assert ns["lengths"].tolist() == [200, 300, 400, 4] and ns["batch"].shape == (4, 400)
    reasons = [ns["rmtkit"].status_reason(s) for s in ns["fits"].status]
    assert reasons[:3] == [ns["rmtkit"].status_reason(0)] * 3 and "equal" in reasons[3]
    assert len(ns["df"]) == _tensor_count(ns["minilm"] / "model.safetensors")  # every tensor has a row
