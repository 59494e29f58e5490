"""The README's examples run as written, and its pasted CLI output is the CLI's output today.

Every ```python block of the README and of the docs pages that hold runnable examples (PAGES) runs,
each in a fresh namespace, in an empty folder. A block that cannot run in the test suite is preceded
by ``<!-- readme-test: skip (the reason) -->``, which the page shows to anyone reading its source;
the reason may not be empty. The `rmtkit analyze` example of the README is written by
``scripts/readme_example.py``; a test runs the same command and compares.
"""

import importlib.util
import json
import re
import struct
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = (README, ROOT / "docs" / "fits.md", ROOT / "docs" / "control.md")
BLOCK = re.compile(r"(?:<!-- readme-test: skip \((?P<reason>[^)]*)\) -->\n)?```python\n(?P<code>.*?)```", re.S)


def blocks(page: Path = README) -> list[tuple[int, str, str | None]]:
    """``(line, code, skip reason or None)`` of every ```python block of ``page``."""
    text = page.read_text()
    return [(text[: m.start("code")].count("\n") + 1, m["code"], m["reason"]) for m in BLOCK.finditer(text)]


def all_blocks() -> list[tuple[str, int, str, str | None]]:
    return [(page.relative_to(ROOT).as_posix(), *b) for page in PAGES for b in blocks(page)]


def test_there_are_python_blocks_and_every_skip_says_why():
    text = README.read_text()
    analyse = text[text.index("## Analyse a model"):]
    assert "```python" in analyse[: analyse.index("\n## ", 1)]  # the Python version of the example
    for page in PAGES:
        found = blocks(page)
        assert len(found) >= 1, page
        assert all(reason is None or reason.strip() for _, _, reason in found)
        assert page.read_text().count("```python") == len(found)  # no block escapes the pattern


def _run(code: str, where: str, folder: Path, monkeypatch) -> dict:
    monkeypatch.chdir(folder)
    namespace: dict = {"__name__": "__readme__"}
    exec(compile(code, where, "exec"), namespace)  # noqa: S102
    return namespace


@pytest.mark.parametrize(("page", "line", "code", "reason"), all_blocks(),
                         ids=lambda v: v if isinstance(v, str) and v.endswith(".md") else (f"line{v}" if isinstance(v, int) else ""))
def test_block_runs(page, line, code, reason, tmp_path, monkeypatch):
    if reason is not None:
        pytest.skip(reason)
    _run(code, f"{page}, block at line {line}", tmp_path, monkeypatch)


def _tensor_count(path: Path) -> int:
    """Tensors in a safetensors file, read from its header (8-byte little-endian length, then JSON)."""
    with path.open("rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(size))
    return len([k for k in header if k != "__metadata__"])


@pytest.mark.slow
def test_fits_example_gives_the_planted_answers(tmp_path, monkeypatch):
    page = ROOT / "docs" / "fits.md"
    line, code, _ = blocks(page)[0]
    ns = _run(code, f"docs/fits.md, block at line {line}", tmp_path, monkeypatch)
    # Two spikes planted above the BBP threshold over unit-variance Gaussian noise (Q = 2).
    assert int(ns["fit"].num_spikes) == 2 and abs(float(ns["fit"].sigma) - 1) < 0.02
    assert abs(float(ns["fit"].lambda_plus) - (1 + 1 / np.sqrt(2)) ** 2) < 0.05
    # The padded batch: three Gaussian spectra of 200, 300, 400 values, then four equal values.
    assert ns["lengths"].tolist() == [200, 300, 400, 4] and ns["batch"].shape == (4, 400)
    reasons = [ns["rmtkit"].status_reason(s) for s in ns["fits"].status]
    assert reasons[:3] == [ns["rmtkit"].status_reason(0)] * 3 and "equal" in reasons[3]


@pytest.mark.slow
def test_analyse_example_accounts_for_every_tensor_and_draws(tmp_path, monkeypatch):
    line, code, _ = next(b for b in blocks() if "rmtkit.analyze(" in b[1])
    ns = _run(code, f"README.md, block at line {line}", tmp_path, monkeypatch)
    assert len(ns["df"]) == _tensor_count(Path(ns["model"]) / "model.safetensors")  # every tensor has a row
    assert (ns["df"].status == "ok").sum() == 9 and ns["pooler"].phase == "random-like"
    assert (tmp_path / "model.png").stat().st_size > 10_000 and (tmp_path / "pooler.png").stat().st_size > 10_000


def _example_script():
    spec = importlib.util.spec_from_file_location("readme_example", ROOT / "scripts" / "readme_example.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pasted_cli_output_is_the_cli_output():
    """The README shows what `rmtkit analyze` prints today (rerun scripts/readme_example.py after a change)."""
    example = _example_script()
    pasted = example.current_block(README.read_text())
    assert "rmtkit analyze \"$MODEL\" --layers" in pasted and "pooler.dense" in pasted
    assert pasted == example.block(example.cli_output()), "stale: run python scripts/readme_example.py"
