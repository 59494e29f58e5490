"""The project's docs stand on their own: citations point into docs/theory.md, never to notes outside the project."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [p for pattern in ("rmtkit/**/*.py", "simulations/**/*.py", "notebooks/*.py", "conf/**/*.yaml", "docs/*.md",
                             "benchmarks/*.py", "README.md") for p in ROOT.glob(pattern)]


def test_no_citation_of_notes_outside_the_project():
    hits = [f"{p.relative_to(ROOT)}:{i}" for p in SOURCES for i, line in enumerate(p.read_text().splitlines(), 1)
            if re.search(r"REFERENCE(\.md| §)", line)]
    assert len(SOURCES) > 40 and hits == []


def test_theory_anchors_cited_in_the_code_exist():
    theory = (ROOT / "docs" / "theory.md").read_text()
    anchors = set(re.findall(r"\{#([a-z-]+)\}", theory))
    cited = {a for p in SOURCES for a in re.findall(r"theory\.md#([a-z-]+)", p.read_text())}
    assert {"spectra", "marchenko-pastur", "power-laws", "metrics", "phases", "training", "vsdl"} <= anchors
    assert cited and cited <= anchors, cited - anchors
