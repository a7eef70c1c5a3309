"""``index.html``: the whole report as one self-contained page.

The page is rendered from the same structured content as ``README.md`` (the sections, their
tables' display frames, methods, caveats, notes and sources), not by converting the Markdown.
It loads nothing: CSS is inline in a ``<style>``, figures are the report's own SVG files
inlined (their element ids prefixed per figure so that two figures never share an id), and
file names are printed, not linked. Every text that comes from the study table is escaped
(:func:`html.escape`), and the few Markdown marks of the report's own prose (code spans,
bold, links to an anchor of the page) are the only markup applied to prose. The bytes depend
on the study table and the code only (no date, no absolute path), like the rest of the report.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pandas as pd

from .config import ReportConfig
from .model import Section, plural
from .readme import (
    config_text,
    data_dictionary,
    data_fingerprint,
    intro_text,
    methods_text,
    reading_text,
)
from .tables import table_cells

#: ids of the two sections after the analyses (the README's anchors)
EXCLUDED_ID, OVERVIEW_ID = "excluded_rows", "study_table_overview"

_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_LINK = re.compile(r"\[([^\]]+)\]\(#([A-Za-z][A-Za-z0-9_\-]*)\)")
_NUMERIC = re.compile(r"^(?:[<>≤≥]\s?)?[+-]?\d[\d.,]*%?(?: \(\d+ of \d+\))?$|^[–-]$|^NA$")
#: an estimate with its interval, or an interval: kept on one line
_INTERVAL = re.compile(r"^\S+ \[\S+ to \S+\]$|^\S+ to \S+$")
_SVG_ID = re.compile(r'(\bid="|url\(#|href="#)([^")]+)')

CSS = """
:root { --ink: #1d2430; --muted: #5a6472; --rule: #d5dae1; --band: #f4f6f9;
  --accent: #1f4e79; }
* { box-sizing: border-box; }
html { font-size: 16px; }
body { margin: 0; color: var(--ink); background: #fff;
  font-family: "Segoe UI", "Helvetica Neue", Helvetica, Arial, "Liberation Sans",
    "DejaVu Sans", sans-serif;
  line-height: 1.55; -webkit-text-size-adjust: 100%; }
.page { max-width: 74rem; margin: 0 auto; padding: 2rem 1.5rem 4rem; }
header.top { border-bottom: 3px solid var(--accent); margin-bottom: 1.5rem; }
h1 { font-size: 2rem; margin: 0 0 .5rem; color: var(--accent); letter-spacing: -.01em; }
h2 { font-size: 1.45rem; margin: 2.5rem 0 .75rem; padding-bottom: .25rem;
  border-bottom: 1px solid var(--rule); color: var(--accent); }
h3 { font-size: 1.05rem; margin: 1.4rem 0 .4rem; }
p, li { max-width: 48rem; }
p.lead { font-size: 1.08rem; }
p.data, p.reading { color: var(--muted); font-size: .95rem; }
code { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: .86em;
  background: var(--band); padding: .05em .3em; border-radius: 3px; }
a { color: var(--accent); }
nav.toc { background: var(--band); border: 1px solid var(--rule); border-radius: 6px;
  padding: .75rem 1.25rem 1rem; margin: 1.5rem 0; }
nav.toc h2 { margin-top: .5rem; border: 0; font-size: 1.2rem; }
nav.toc ol { margin: 0; padding-left: 1.6rem; columns: 2 24rem; column-gap: 2rem; }
nav.toc li { break-inside: avoid; margin: .1rem 0; }
nav.toc .count { color: var(--muted); font-size: .9em; }
section.analysis > p.summary { font-size: 1.05rem; }
figure { margin: 1.25rem 0; break-inside: avoid; }
figure svg { display: block; max-width: 100%; height: auto; }
figcaption, .caption { color: var(--muted); font-size: .9rem; margin-top: .4rem; }
.table-wrap { overflow-x: auto; margin: .5rem 0 1.25rem; }
table { border-collapse: collapse; font-size: .88rem; min-width: 50%;
  font-variant-numeric: tabular-nums; }
caption { caption-side: top; text-align: left; font-weight: 600; padding: .3rem 0 .45rem;
  color: var(--ink); }
caption .file { font-weight: 400; color: var(--muted); }
th, td { padding: .3rem .6rem; vertical-align: top; text-align: left;
  border-bottom: 1px solid var(--rule); }
thead th { background: var(--band); border-top: 2px solid var(--ink);
  border-bottom: 1.5px solid var(--ink); white-space: nowrap; }
tbody tr:last-child td { border-bottom: 2px solid var(--ink); }
tbody tr:nth-child(even) td { background: #fafbfc; }
td.num, th.num { text-align: right; white-space: nowrap; }
td.ci { white-space: nowrap; }
td.long { min-width: 20rem; }
td.longer { min-width: 32rem; }
table.wide { font-size: .8rem; }
ul.sources { columns: 2 22rem; column-gap: 2rem; font-size: .92rem; padding-left: 1.2rem; }
ul.sources li { break-inside: avoid; }
.missing { color: #8a1c1c; font-style: italic; }
footer { margin-top: 3rem; padding-top: .75rem; border-top: 1px solid var(--rule);
  color: var(--muted); font-size: .85rem; }
@media print {
  @page { size: A4; margin: 14mm 12mm; }
  html { font-size: 10pt; }
  .page { max-width: none; padding: 0; }
  a { color: inherit; text-decoration: none; }
  nav.toc { break-after: page; border: 0; background: none; padding: 0; }
  h2, h3, caption { break-after: avoid; }
  tr, figure, li { break-inside: avoid; }
  .table-wrap { overflow: visible; }
  table, table.wide { font-size: 7.5pt; width: 100%; }
  td.long, td.longer { min-width: 0; }
  td, th { overflow-wrap: anywhere; white-space: normal; padding: .15rem .3rem; }
  thead { display: table-header-group; }
  tbody tr:nth-child(even) td, thead th, code { background: none; }
}
"""


def esc(value) -> str:
    """Text made inert in HTML (``<``, ``>``, ``&`` and quotes escaped).

    Example
    -------
    >>> esc('<script>alert("x")</script>')
    '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;'
    """
    return html.escape(str(value), quote=True)


def prose(text: str) -> str:
    """The report's own Markdown-marked prose as HTML: escaped first, then code spans, bold
    and links to an anchor of the page (``[Methods](#methods)``); nothing else is markup.

    Example
    -------
    >>> prose("**Bold.** `code <x>` see [Methods](#methods) [x](javascript:alert(1))")
    '<strong>Bold.</strong> <code>code &lt;x&gt;</code> see <a href="#methods">Methods</a> [x](javascript:alert(1))'
    """
    out = []
    for i, part in enumerate(_CODE.split(text)):
        e = html.escape(part, quote=False)
        if i % 2:
            out.append(f"<code>{e}</code>")
        else:
            e = _BOLD.sub(r"<strong>\1</strong>", e)
            out.append(_LINK.sub(r'<a href="#\2">\1</a>', e))
    return "".join(out)


def cell_text(v, digits: int = 3) -> str:
    """A table cell as the Markdown table prints it (floats with ``digits`` decimals, NA),
    not yet escaped."""
    if isinstance(v, float):
        return "NA" if pd.isna(v) else f"{v:.{digits}f}"
    if v is None or v is pd.NA or (not isinstance(v, str) and pd.isna(v)):
        return "NA"
    return " ".join(str(v).split())


def html_table(df: pd.DataFrame, caption: str, file: str | None = None,
               table_id: str | None = None) -> str:
    """A ``<table>`` with its caption; every cell and header escaped; columns whose cells are
    all numbers are right-aligned.

    Example
    -------
    >>> import pandas as pd
    >>> t = html_table(pd.DataFrame({"Study": ["<b>x</b>"], "k": ["3"]}), "Caption")
    >>> "&lt;b&gt;x&lt;/b&gt;" in t and '<td class="num">3</td>' in t
    True
    """
    cells = [[cell_text(v) for v in row] for row in table_cells(df)]
    numeric = [any(r[j] for r in cells) and all(_NUMERIC.match(r[j]) for r in cells if r[j])
               for j in range(len(df.columns))]
    cls = [' class="num"' if n else "" for n in numeric]
    file_part = f' <span class="file">({esc(file)})</span>' if file else ""
    ident = f' id="{esc(table_id)}"' if table_id else ""
    ident += ' class="wide"' if len(df.columns) > 10 else ""
    head = "".join(f"<th{c} scope=\"col\">{esc(h)}</th>" for h, c in zip(df.columns, cls))
    body = "\n".join("<tr>" + "".join(f"<td{_td(v, c)}>{esc(v)}</td>" for v, c in zip(r, cls))
                     + "</tr>" for r in cells)
    return (f'<div class="table-wrap"><table{ident}>\n<caption>{prose(caption)}{file_part}'
            f"</caption>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n"
            "</table></div>\n")


def _td(text: str, cls: str) -> str:
    """The class of a cell: numbers right-aligned, intervals on one line, long text wide."""
    if cls:
        return cls
    if _INTERVAL.match(text):
        return ' class="ci"'
    if len(text) > 60:
        return ' class="long"' if len(text) <= 160 else ' class="longer"'
    return ""


def inline_svg(svg: str, prefix: str, label: str) -> str:
    """A matplotlib SVG file as an inline ``<svg>`` element: no XML declaration, DOCTYPE or
    metadata; every id (and reference to it) prefixed with ``prefix``; an accessible name.

    Example
    -------
    >>> s = ('<?xml version="1.0"?>\\n<svg width="10pt" viewBox="0 0 10 10">'
    ...      '<metadata>m</metadata><defs><path id="a"/></defs><use xlink:href="#a"/></svg>')
    >>> inline_svg(s, "f1-", "A <b>")
    '<svg role="img" aria-label="A &lt;b&gt;" width="10pt" viewBox="0 0 10 10"><defs><path id="f1-a"/></defs><use xlink:href="#f1-a"/></svg>'
    """
    start = svg.find("<svg")
    if start < 0:
        raise ValueError("not an SVG file: no <svg> element")
    body = re.sub(r"(?s)<metadata>.*?</metadata>\s*", "", svg[start:]).rstrip()
    return f'<svg role="img" aria-label="{esc(label)}"' + prefix_ids(body, prefix)[len("<svg"):]


def _word(c: str) -> bool:
    return c.isalnum() or c == "_"  # a character of ``\w`` (what ``\b`` looks at)


def prefix_ids(body: str, prefix: str) -> str:
    """``_SVG_ID.sub(lambda m: m.group(1) + prefix + m.group(2), body)``, by string search
    (three times faster on a report's 3 MB of SVG): ``prefix`` after every ``id="`` that
    starts a word, ``url(#`` and ``href="#`` followed by a character other than ``"`` and
    ``)``; the name that follows (up to ``"`` or ``)``) is passed over, as the regex does."""
    out: list[str] = []
    i, n = 0, len(body)
    finds = {tok: body.find(tok) for tok in _ID_TOKENS}
    while True:
        live = [(at, tok) for tok, at in finds.items() if at >= 0]
        if not live:
            break
        at, tok = min(live)
        end = at + len(tok)
        if end < n and body[end] not in '")' and (
                tok != 'id="' or at == 0 or not _word(body[at - 1])):
            quote = body.find('"', end)
            quote = n if quote < 0 else quote
            paren = body.find(")", end, quote)
            stop = quote if paren < 0 else paren
            out += [body[i:end], prefix, body[end:stop]]
            i = stop
            for t, found in finds.items():
                if 0 <= found < stop:
                    finds[t] = body.find(t, stop)
        else:
            finds[tok] = body.find(tok, at + 1)
    out.append(body[i:])
    return "".join(out)


_ID_TOKENS = ('id="', "url(#", 'href="#')


def _figure(s: Section, number: int, outdir: Path) -> str:
    if s.figure_missing:
        return f'<p class="missing">Figure not produced: {esc(s.figure_missing)}</p>\n'
    svg = [f for f in s.figure_files if f.endswith(".svg")]
    if not svg:
        return ""
    text = (outdir / svg[0]).read_text(encoding="utf-8")
    files = ", ".join(f"<code>{esc(f)}</code>" for f in s.figure_files)
    return (f"<figure>\n{inline_svg(text, f'fig{number}-', s.title)}\n"
            f"<figcaption>Figure {number}. {esc(s.title)}. Files: {files}.</figcaption>\n"
            "</figure>\n")


def _bullets(title: str, items: list[str], cls: str = "") -> str:
    if not items:
        return ""
    c = f' class="{cls}"' if cls else ""
    lis = "\n".join(f"<li>{esc(x)}</li>" for x in items)
    return f"<h3>{prose(title)}</h3>\n<ul{c}>\n{lis}\n</ul>\n"


def section_html(s: Section, number: int, outdir: Path) -> str:
    """The part of the page for one section (the README's part, in HTML)."""
    parts = [f'<section class="analysis" id="{esc(s.slug)}">\n'
             f"<h2>{number}. {esc(s.title)}</h2>\n",
             f'<p class="summary">{prose(s.summary)}</p>\n', _figure(s, number, outdir)]
    for j, t in enumerate(s.tables, 1):
        parts.append(html_table(t.display, f"Table {number}.{j}. {t.caption}",
                                f"{t.stem}.csv, {t.stem}.md"))
    if s.in_words:
        parts.append(f"<p><strong>In words.</strong> {esc(s.in_words)}</p>\n")
    parts.append(f"<p><strong>Method.</strong> {prose(s.method)}</p>\n")
    parts.append(_bullets("Caveats", s.caveats))
    parts.append(_bullets("Notes from the analysis (warnings raised by the data)", s.notes))
    if s.sources is not None:
        parts.append(_bullets(f"Sources ({plural(len(s.sources), 'row')}; "
                              f"`tables/{s.slug}_sources.csv`)", s.source_lines(),
                              "sources"))
    parts.append("</section>\n")
    return "".join(parts)


def _toc(sections: list[Section]) -> str:
    items = []
    for s in sections:
        n = "" if s.sources is None else (
            f' <span class="count">({plural(len(s.sources), "row")})</span>')
        items.append(f'<li><a href="#{esc(s.slug)}">{esc(s.title)}</a>{n}</li>')
    items.append(f'<li><a href="#{EXCLUDED_ID}">Rows not pooled</a></li>')
    items.append(f'<li><a href="#{OVERVIEW_ID}">Study table overview</a></li>')
    return ('<nav class="toc" aria-label="Contents">\n<h2>Contents</h2>\n'
            '<p>The models and the rule that decides which rows are pooled are in '
            '<a href="#methods">Methods</a>.</p>\n<ol>\n'
            + "\n".join(items) + "\n</ol>\n</nav>\n")


def _methods(sections: list[Section], cfg: ReportConfig) -> str:
    paras = [p.strip() for p in methods_text(sections, cfg)[1:]]  # [0] is the anchor and heading
    return ('<section class="part" id="methods">\n<h2>Methods</h2>\n'
            + "".join(f"<p>{prose(p)}</p>\n" for p in paras) + "</section>\n")


def html_page(studies: pd.DataFrame, data_path: Path, sections: list[Section],
              outdir: Path, excluded: pd.DataFrame, overview: pd.DataFrame,
              failures=(), cfg: ReportConfig | None = None) -> str:
    """The whole ``index.html`` (``excluded`` is the display version of the rows not pooled,
    ``outdir`` the report directory holding the figures' SVG files)."""
    from .._version import __version__

    cfg = cfg or ReportConfig()
    n_rows, n_studies = len(studies), studies["study_id"].nunique()
    name = Path(data_path).name
    data = (f"Data: <code>{esc(name)}</code> ({n_rows} rows, {n_studies} studies; SHA-256 "
            f"{data_fingerprint(data_path)}), iometa {esc(__version__)}. "
            f"{n_rows - len(excluded)} rows enter at least one analysis; {len(excluded)} do "
            f'not, each with its reason in <a href="#{EXCLUDED_ID}">Rows not pooled</a>.')
    parts = ["<!DOCTYPE html>\n",
             '<html lang="en">\n<head>\n<meta charset="utf-8">\n',
             '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
             f'<meta name="generator" content="iometa {esc(__version__)}">\n',
             f"<title>{esc(cfg.title)}</title>\n",
             f"<style>{CSS}</style>\n</head>\n<body>\n<div class=\"page\">\n",
             f'<header class="top">\n<h1>{esc(cfg.title)}</h1>\n',
             f'<p class="lead">{prose(intro_text(studies, sections, cfg))}</p>\n'
             f'<p class="data">{data}{prose(config_text(cfg))}</p>\n'
             f'<p class="reading">{prose(reading_text(cfg, data_dictionary(data_path)))}</p>\n'
             "</header>\n"]
    parts.append(_bullets("Analyses that could not be run (the data were refused by the pool "
                          "function; their rows are listed under Rows not pooled)",
                          [f"{n}: {why}" for n, why in failures]))
    parts += [_toc(sections), "<main>\n", _methods(sections, cfg)]
    parts += [section_html(s, i, outdir) for i, s in enumerate(sections, 1)]
    n = len(sections)
    parts += [f'<section class="part" id="{EXCLUDED_ID}">\n<h2>{n + 1}. Rows not pooled</h2>\n'
              "<p>Every row of the study table that no analysis above uses, with the reason "
              "(<code>tables/excluded_rows.csv</code>).</p>\n",
              html_table(excluded, f"Table {n + 1}. Rows not pooled ({len(excluded)})",
                         "tables/excluded_rows.csv"), "</section>\n",
              f'<section class="part" id="{OVERVIEW_ID}">\n'
              f"<h2>{n + 2}. Study table overview</h2>\n"
              "<p>Rows and studies per outcome × modality, and how many rows the analyses use "
              "(<code>tables/study_table_overview.csv</code>).</p>\n",
              html_table(overview, f"Table {n + 2}. Study table overview",
                         "tables/study_table_overview.csv"), "</section>\n",
              "</main>\n",
              f"<footer>Generated by <code>iometa report</code> (iometa {esc(__version__)}) "
              f"from <code>{esc(name)}</code>. Do not edit: rerun the command. The same "
              "content is in <code>README.md</code>; the tables are also in "
              "<code>tables.docx</code> and, to 6 significant digits, in <code>tables/*.csv</code>."
              "</footer>\n</div>\n</body>\n</html>\n"]
    return "".join(parts)


def write_html(outdir: Path, studies: pd.DataFrame, data_path: Path, sections: list[Section],
               excluded: pd.DataFrame, overview: pd.DataFrame, failures=(),
               cfg: ReportConfig | None = None) -> Path:
    """Write ``outdir/index.html`` (see :func:`html_page`) and return its path."""
    path = Path(outdir) / "index.html"
    path.write_text(html_page(studies, data_path, sections, outdir, excluded, overview,
                              failures, cfg), encoding="utf-8", newline="\n")
    return path
