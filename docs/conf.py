"""Sphinx configuration of the iometa documentation.

Build (from the repository root)::

    python -m pip install -e ".[docs]" && sphinx-build -W -b html docs docs/_build/html

Nothing is downloaded at build time: pages are MyST Markdown, the notebooks are rendered from
their committed outputs (myst-nb, execution off) and the theme is Sphinx's built-in alabaster.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))

import iometa  # noqa: E402

project = "iometa"
author = "iometa developers"
copyright = "2026, iometa developers"
release = iometa.__version__
version = release

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]

# the notebooks live in notebooks/ at the root; copy the committed .ipynb (with outputs) in
_NB = DOCS / "notebooks"
_NB.mkdir(exist_ok=True)
for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
    target = _NB / nb.name
    if not target.exists() or target.read_bytes() != nb.read_bytes():
        shutil.copyfile(nb, target)

# autosummary writes one page per public name; start afresh so no page outlives its name
shutil.rmtree(DOCS / "api" / "generated", ignore_errors=True)

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
root_doc = "index"
exclude_patterns = ["_build", "gallery/README.md", "gallery/data", "**.ipynb_checkpoints"]

nb_execution_mode = "off"  # render the outputs committed in the notebooks
nb_output_stderr = "remove"
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
# The gallery README and the notebooks are also read on GitHub, where their links to source
# files (make_gallery.py, the CSV files, data/README.md) work; Sphinx has no page for them.
suppress_warnings = ["myst.header", "mystnb.unknown_mime_type", "myst.xref_missing"]

autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": False}
autodoc_typehints = "signature"
autodoc_member_order = "bysource"
napoleon_numpy_docstring = True
napoleon_google_docstring = False
napoleon_use_ivar = True  # dataclass fields are documented once, by autodoc
napoleon_custom_sections = [("Example", "Examples")]

# MathJax is loaded by the browser from its CDN when a page with formulas is opened; the build
# itself downloads nothing.
html_theme = "alabaster"
html_title = f"iometa {release}"
html_static_path: list[str] = []
html_theme_options = {
    "description": "Meta-analysis of interventional-oncology outcomes, checked against metafor",
    "fixed_sidebar": True,
    "page_width": "1180px",
}
