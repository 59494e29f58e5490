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


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading: lower case, punctuation but ``-``/``_`` dropped, spaces to ``-``."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    return {github_slug(h) for h in re.findall(r"^#+ (.+)$", page.read_text(), flags=re.M)}


def test_github_slug():
    assert github_slug("Power laws") == "power-laws" and github_slug("det X") == "det-x"
    assert github_slug("Marchenko–Pastur") == "marchenkopastur" and github_slug("9. Comparisons") == "9-comparisons"


def test_theory_anchors_cited_in_the_code_exist():
    """Anchors are heading slugs (GitHub and MyST render those; ``{#anchor}`` attributes show as text on GitHub)."""
    anchors = _anchors(ROOT / "docs" / "theory.md")
    cited = {a for p in SOURCES for a in re.findall(r"theory\.md#([a-z-]+)", p.read_text())}
    assert {"spectra", "marchenko-pastur", "power-laws", "metrics", "phases", "training", "vsdl"} <= anchors
    assert {"comparisons", "farms", "control"} <= cited  # the README's links
    assert cited and cited <= anchors, cited - anchors


def test_every_markdown_anchor_link_resolves():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    broken = []
    for page in pages:
        text = page.read_text()
        assert "{#" not in text, f"{page.name}: a {{#anchor}} heading attribute (GitHub shows it as text)"
        for target, anchor in re.findall(r"\]\(([^)#\s]*)#([^)\s]+)\)", text):
            if target.startswith("http"):
                continue
            linked = (page.parent / target) if target else page
            if not linked.exists() or anchor not in _anchors(linked):
                broken.append(f"{page.relative_to(ROOT)}: {target}#{anchor}")
    assert len(pages) >= 4 and broken == []


def test_every_relative_link_and_image_resolves():
    """Links and images between the README and the docs pages (docs/**/*.md) point at files that exist."""
    pages = [ROOT / "README.md", *sorted(p for p in (ROOT / "docs").rglob("*.md") if "_build" not in p.parts)]
    broken, checked = [], 0
    for page in pages:
        text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)  # links inside code blocks are code
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            path = target.split("#", 1)[0]
            if not path or re.match(r"[a-z]+:", path):
                continue
            checked += 1
            if not (page.parent / path).exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert checked > 50 and broken == []
