"""The documentation site (``make docs``) builds with warnings as errors, and its internal links resolve.

Sphinx checks the cross-references it knows (MyST links between pages and to headings, toctrees,
autodoc); this test then follows every relative link and image of the built HTML to a file, and every
``#anchor`` to an id on the page it names.
"""

import re
import subprocess
import sys
import types
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

import rmtkit

ROOT = Path(__file__).resolve().parents[1]


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        target = attrs.get("href") if tag == "a" else attrs.get("src") if tag == "img" else None
        if target:
            self.links.append(target)


def _parse(page: Path) -> _Links:
    parser = _Links()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def _api_ids(name: str) -> set[str]:
    """The ids under which the API page may document ``rmtkit.<name>``: there, or in its own module's section."""
    obj = getattr(rmtkit, name)
    if isinstance(obj, types.ModuleType):
        return {f"module-{obj.__name__}"}
    return {f"rmtkit.{name}", f"{obj.__module__}.{obj.__qualname__}"}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-E", "-q",
                           str(ROOT / "docs"), str(out)], capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    return out


def test_every_page_notebook_and_the_api_are_built(site):
    pages = {p.stem for p in (ROOT / "docs").glob("*.md")}
    assert pages <= {p.stem for p in site.glob("*.html")}, pages - {p.stem for p in site.glob("*.html")}
    notebooks = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert notebooks and notebooks == sorted(p.stem for p in (site / "notebooks").glob("*.html"))
    # The notebooks are shown with their committed outputs (figures), not re-executed and not empty.
    assert all(len(re.findall(r"<img ", (site / "notebooks" / f"{n}.html").read_text())) >= 1 for n in notebooks)
    # The API reference documents every public name rmtkit exports (modules by their own section).
    ids = _parse(site / "api.html").ids
    missing = [n for n in rmtkit.__all__ if not ids & _api_ids(n)]
    assert missing == []
    # The landing page is the README, its analyzer example included.
    index = (site / "index.html").read_text()
    assert "Analyse a model" in index and "pooler.dense" in index


def test_internal_links_and_images_resolve(site):
    broken, checked, cache = [], 0, {}
    for page in site.rglob("*.html"):
        if {"_modules", "_sources"} & set(page.relative_to(site).parts):  # the source listings of viewcode
            continue
        for target in _parse(page).links:
            parts = urlsplit(target)
            if parts.scheme or parts.netloc or target.startswith(("mailto:", "javascript:")):
                continue
            linked = (page.parent / unquote(parts.path)).resolve() if parts.path else page.resolve()
            checked += 1
            if not linked.exists():
                broken.append(f"{page.relative_to(site)}: {target}")
            elif parts.fragment and linked.suffix == ".html":
                if linked not in cache:
                    cache[linked] = _parse(linked).ids
                ids = cache[linked]
                if unquote(parts.fragment) not in ids:
                    broken.append(f"{page.relative_to(site)}: {target} (no such anchor)")
    assert checked > 500 and broken == []
