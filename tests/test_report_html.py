"""``index.html`` and ``tables.docx`` of the report, read without a browser: self-contained,
escaped, complete (every section, table and figure of README.md) and deterministic."""

from __future__ import annotations

import re
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import pytest
from _unseen_table import INJECTED, INJECTED_NOTE, build_unseen

from iometa.report.html import html_table, inline_svg, prose


class Page(HTMLParser):
    """Tags, attributes, ids, headings and text of a page."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.h2: list[str] = []
        self._h2: list[str] | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "h2":
            self._h2 = []

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if tag == "h2" and self._h2 is not None:
            self.h2.append("".join(self._h2).strip())
            self._h2 = None

    def handle_data(self, data):
        self.text.append(data)
        if self._h2 is not None:
            self._h2.append(data)

    def count(self, tag: str) -> int:
        return sum(1 for t, _ in self.tags if t == tag)

    def ids(self) -> list[str]:
        return [a["id"] for _, a in self.tags if a.get("id")]


@pytest.fixture(scope="module")
def unseen(tmp_path_factory):
    base = tmp_path_factory.mktemp("unseen")
    first = build_unseen(base / "table", base / "first")
    second = build_unseen(base / "table", base / "second")
    return base, first, second


def _page(out: Path) -> tuple[str, Page]:
    text = (out / "index.html").read_text(encoding="utf-8")
    return text, Page(text)


def test_page_loads_nothing(unseen):
    text, page = _page(unseen[1])
    assert page.count("link") == page.count("script") == page.count("img") == 0
    for tag in ("iframe", "object", "embed", "base", "video", "audio", "source"):
        assert page.count(tag) == 0, tag
    ids = set(page.ids())
    for tag, attrs in page.tags:
        assert "src" not in attrs and "srcset" not in attrs, tag
        assert not any(k.startswith("on") for k in attrs), (tag, attrs)
        for key in ("href", "xlink:href"):
            if key in attrs:
                ref = attrs[key] or ""
                assert ref.startswith("#") and ref[1:] in ids, (tag, ref)
        for key, value in attrs.items():
            if not key.startswith("xmlns"):  # namespace names are not fetched
                assert not re.match(r"(?i)\s*(https?|file|data|javascript):", value or ""), (
                    tag, key, value)
    assert re.findall(r"url\((?!#)", text) == [] and "@import" not in text


def test_table_text_is_escaped(unseen):
    text, page = _page(unseen[1])
    assert "<script" not in text and "<img" not in text
    shown = "".join(page.text)
    assert INJECTED in shown  # as text: the sources list and the excluded/used tables
    assert INJECTED_NOTE in shown  # the note of review_vs_primary.csv
    assert "&lt;script&gt;window.iometaPwned=1&lt;/script&gt;2021" in text


def test_every_section_of_the_readme_is_on_the_page(unseen):
    out = unseen[1]
    readme = (out / "README.md").read_text(encoding="utf-8")
    text, page = _page(out)
    headings = [h.replace("\\|", "|") for h in re.findall(r"(?m)^## (.+)$", readme)]
    assert headings[0] == "Contents" and "Review vs primary source" in headings[-3]
    assert page.h2 == headings  # Contents, Methods, every section, rows not pooled, overview
    anchors = re.findall(r'<a id="([^"]+)"></a>', readme)
    ids = page.ids()
    assert set(anchors) <= set(ids)
    toc = [a["href"][1:] for t, a in page.tags if t == "a" and a.get("href")]
    assert set(anchors) <= set(toc)
    assert len(ids) == len(set(ids)), "duplicate ids (figures' ids must be prefixed)"
    svgs = sorted((out / "figures").glob("*.svg"))
    assert len(svgs) >= 1
    assert page.count("svg") == text.count("<svg") == len(svgs) == readme.count("![")
    assert page.count("figure") == len(svgs)
    # one <table> per Markdown table (each has one separator line |---|---|)
    assert page.count("table") == len(re.findall(r"(?m)^\|(?:---\|)+$", readme)) > 0
    for caption in re.findall(r"(?m)^\*\*(Pooled [^*]+)\*\* \(", readme):
        assert caption in "".join(page.text)


def test_page_and_word_tables_are_deterministic(unseen):
    base, first, second = unseen
    for name in ("index.html", "tables.docx"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    text = (first / "index.html").read_text(encoding="utf-8")
    for bad in (str(base), "/tmp/", "/home/", str(Path.home())):
        assert bad not in text
    assert "<dc:date>" not in text and "<metadata>" not in text
    with zipfile.ZipFile(first / "tables.docx") as z:
        assert {i.date_time for i in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        core = z.read("docProps/core.xml").decode()
    assert "1980-01-01T00:00:00Z" in core and "python-docx" not in core


def test_word_document_holds_every_table_with_its_caption(unseen):
    docx = pytest.importorskip("docx")
    out = unseen[1]
    doc = docx.Document(str(out / "tables.docx"))
    md = sorted(p.name for p in (out / "tables").glob("*.md"))
    assert len(doc.tables) == len(md)
    captions = [p.text for p in doc.paragraphs if p.text.startswith("Table ")]
    assert len(captions) == len(doc.tables)
    files = {re.search(r"\((tables/[^)]+)\.csv\)$", c).group(1) for c in captions}
    assert files == {f"tables/{Path(m).stem}" for m in md}
    cells = {c.text for t in doc.tables for r in t.rows for c in r.cells}
    assert INJECTED in cells and INJECTED_NOTE in cells
    headings = [p.text for p in doc.paragraphs if p.style.name == "Heading 1"]
    assert headings[-2:] == [f"{len(headings) - 1}. Rows not pooled",
                             f"{len(headings)}. Study table overview"]


def test_prose_marks_only_code_bold_and_page_links():
    assert prose("[a](https://x.org) [b](#methods) **c** `<d>`") == (
        '[a](https://x.org) <a href="#methods">b</a> <strong>c</strong> <code>&lt;d&gt;</code>')
    assert prose("<script>alert(1)</script>") == "&lt;script&gt;alert(1)&lt;/script&gt;"


def test_html_table_escapes_headers_and_aligns_numbers():
    import pandas as pd

    t = html_table(pd.DataFrame({"<th>": ["<x>", "y"], "k": ["3", "12"], "p": [0.5, None]}),
                   "Cap <y>", "tables/a.csv")
    assert "&lt;th&gt;" in t and "&lt;x&gt;" in t and "Cap &lt;y&gt;" in t
    assert '<td class="num">12</td>' in t and '<td class="num">0.500</td>' in t
    assert '<td class="num">NA</td>' in t and "<td>y</td>" in t


def test_inline_svg_prefixes_every_id_and_reference():
    svg = ('<?xml version="1.0"?>\n<!DOCTYPE svg>\n<svg viewBox="0 0 1 1"><defs>'
           '<clipPath id="p1"><rect/></clipPath><path id="g"/></defs>'
           '<g clip-path="url(#p1)"><use xlink:href="#g"/></g></svg>')
    out = inline_svg(svg, "f7-", "T")
    assert out.startswith('<svg role="img" aria-label="T"')
    assert re.findall(r'id="([^"]+)"', out) == ["f7-p1", "f7-g"]
    assert "url(#f7-p1)" in out and 'xlink:href="#f7-g"' in out
    with pytest.raises(ValueError, match="not an SVG"):
        inline_svg("<html></html>", "x", "y")


# ----------------------------------------------------------- prefix_ids = the regex it replaced
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_PIECES = ['id="', "url(#", 'href="#', '"', ")", "a", "_", "é", " ", "-", "id=\"\"", "(", "#",
           "h", "=", "<!-- study_id=\"x\" -->"]


def _regex_prefix(body, prefix):
    from iometa.report.html import _SVG_ID
    return _SVG_ID.sub(lambda m: m.group(1) + prefix + m.group(2), body)


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=14), st.sampled_from(["fig3-", "P\\1-"]))
def test_prefix_ids_equals_the_regex(parts, prefix):
    from iometa.report.html import prefix_ids
    body = "".join(parts)
    assert prefix_ids(body, prefix) == _regex_prefix(body, prefix)


def test_prefix_ids_on_every_committed_figure():
    from iometa.report.html import prefix_ids
    svgs = sorted((Path(__file__).resolve().parent.parent / "reports" / "figures").glob("*.svg"))
    assert svgs
    for i, f in enumerate(svgs):
        text = f.read_text(encoding="utf-8")
        assert prefix_ids(text, f"fig{i}-") == _regex_prefix(text, f"fig{i}-")
