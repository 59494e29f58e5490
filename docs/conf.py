"""Sphinx configuration of the rmtkit documentation site (``make docs``).

The site is built as the JAX ecosystem builds its own: Sphinx with MyST Markdown (myst-parser) for the
pages of docs/, myst-nb for the committed notebooks with their outputs (never executed here: ``make
notebooks`` runs them), and autodoc + napoleon for the API reference, read from the Google-style
docstrings of what ``rmtkit/__init__.py`` exports. The notebooks stay in ``notebooks/``, where the
tests and jupytext expect them; each build copies their ``.ipynb`` files into ``docs/notebooks/``
(ignored by git; a link would not do: Sphinx resolves links, and a page outside the source folder is
not a page).
"""

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

_COPIED = Path(__file__).resolve().parent / "notebooks"
shutil.rmtree(_COPIED, ignore_errors=True)
_COPIED.mkdir()
for _notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
    shutil.copy2(_notebook, _COPIED / _notebook.name)

import rmtkit  # noqa: E402

project = "rmtkit"
author = "the rmtkit authors"
copyright = "the rmtkit authors"  # noqa: A001
release = version = rmtkit.__version__

extensions = [
    "myst_nb",  # registers myst-parser for .md and reads .ipynb
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}
root_doc = "index"
exclude_patterns = ["_build", "**/.ipynb_checkpoints", "Thumbs.db", ".DS_Store"]

# MyST: anchors on every heading with GitHub's slugs, so `page.md#a-heading` links work on GitHub and here.
myst_heading_anchors = 6
myst_enable_extensions = ["colon_fence", "deflist", "dollarmath"]  # the notebooks write $\lambda$
# The notebooks are shown with the outputs committed by `make notebooks`; building the site never runs them.
nb_execution_mode = "off"
nb_merge_streams = True

# autodoc: the public API in the order of rmtkit.__all__, type hints in the parameter descriptions.
autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented"  # no second, undocumented parameter list for dataclasses
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_use_ivar = True  # NamedTuple fields: autodoc documents them as members already

html_theme = "sphinx_book_theme"
html_title = f"rmtkit {version}"
html_theme_options = {
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "use_download_button": False,
    # The landing page and the notebooks need the width (the CLI's table, wide DataFrames) more than a page outline.
    "secondary_sidebar_items": {"*": ["page-toc"], "results/**": ["page-toc"], "index": [], "notebooks/*": []},
}
html_static_path = ["_static"]
html_css_files = ["custom.css"]


def _result_pages(app, docname, source):
    """The result folders' pages are reached from the pages that cite them, not from the navigation.

    They are written by the experiments' scripts; those that start with a table get a title (their path).
    """
    if docname.startswith("results/"):
        title = "" if source[0].lstrip().startswith("#") else f"# {docname.removeprefix('results/')}\n\n"
        source[0] = "---\norphan: true\n---\n\n" + title + source[0]


def _readme_links(app, relative_path, parent_docname, content):
    """The README links the notebooks as ``notebooks/...`` (from the repository root); here they are ``docs/notebooks``."""
    if relative_path.name == "README.md":
        content[0] = content[0].replace("](notebooks/", "](docs/notebooks/")


def setup(app):
    app.connect("source-read", _result_pages)
    app.connect("include-read", _readme_links)
