"""The documentation sources cover the package: every public name, every τ² method, every page.

The build itself (``sphinx-build -W``, warnings as errors) runs in ``.ci/run``; these checks
need no Sphinx and fail when a public name or an estimator is added without its page entry.
"""

from __future__ import annotations

import re
from pathlib import Path

import iometa
from iometa.core.estimators import METHODS

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _read(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def test_api_reference_lists_every_public_name():
    api = _read("api.md")
    listed = set(re.findall(r"^   (\w+)$", api, re.M)) | set(re.findall(r"^\.\. data:: (\w+)$", api, re.M))
    public = set(iometa.__all__) - {"__version__"}
    assert listed == public, (public - listed, listed - public)


def test_methods_page_has_every_tau2_method_with_formula_reference_and_r_call():
    rows = {m.group(1): m.group(0) for m in re.finditer(r'^\| `"(\w+)"` \|.*$', _read("methods.md"), re.M)}
    for method in [*METHODS, "GLMM"]:
        row = rows.get(method)
        assert row is not None, method
        cells = [c.strip() for c in row.strip("|").split("|")]
        formula, reference, metafor = cells[2], cells[3], cells[4]
        assert "$" in formula, (method, formula)
        assert method == "FE" or re.search(r"\b(19|20)\d\d\b", reference), (method, reference)
        assert "rma" in metafor or "method" in metafor, (method, metafor)


def test_methods_page_covers_the_other_models():
    text = _read("methods.md")
    for name in ("pool_bayes", "pool_multilevel", "robust", "pool_rates", "GLMM", "rma.mv",
                 "rma.glmm", "bayesmeta"):
        assert name in text, name


def test_coming_from_r_maps_the_main_metafor_and_meta_calls():
    text = _read("coming_from_r.md")
    for r_call, py_call in [("rma(yi, vi", "iometa.pool("), ("escalc(", "proportion_effects("),
                            ("rma.glmm(", 'method="GLMM"'), ("rma.mv(", "pool_multilevel("),
                            ("metaprop(", "pool_proportions("), ("metagen(", "iometa.pool("),
                            ("trimfill(", "trim_and_fill("), ("regtest(", "egger_test(")]:
        assert r_call in text and py_call in text, (r_call, py_call)
    for line in re.findall(r"`iometa\.(\w+)\(", text):
        assert line in iometa.__all__, line  # every name the page uses exists


def test_every_page_is_in_a_toctree_and_the_notebooks_and_gallery_are_rendered():
    index = _read("index.md")
    pages = {p.stem for p in DOCS.glob("*.md")} - {"index"}
    toc = "\n".join(re.findall(r"```\{toctree\}(.*?)```", index, re.S))
    tocs = set(re.findall(r"^(?:[^\n]*<)?(\w+)>?$", toc, re.M))
    assert pages <= tocs, pages - tocs
    assert tocs <= pages | {f"notebooks/{p.stem}" for p in (ROOT / "notebooks").glob("*.ipynb")}, \
        tocs - pages  # no entry points to a page that is gone
    notebooks = _read("notebooks.md")
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert f"notebooks/{nb.stem}" in notebooks, nb.name
    gallery = _read("gallery.md")
    for png in sorted((DOCS / "gallery").glob("*.png")):
        assert f"(gallery/{png.name})" in gallery, png.name
    conf = _read("conf.py")
    assert 'nb_execution_mode = "off"' in conf  # nothing runs (or downloads) at build time


def test_build_command_is_documented_and_run_in_ci():
    command = 'python -m pip install -e ".[docs]" && sphinx-build -W -b html docs docs/_build/html'
    assert command in (ROOT / "README.md").read_text(encoding="utf-8")
    assert command in _read("index.md")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r'^python -m pip install --quiet -e "\.\[docs\]" && sphinx-build -W -b html docs docs/_build/html$', ci, re.M)
    assert re.search(r"^mypy iometa$", ci, re.M)
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    docs_extra = re.search(r"^docs = \[(.*?)\]", pyproject, re.S | re.M).group(1)
    assert "sphinx" in docs_extra and "myst-nb" in docs_extra
