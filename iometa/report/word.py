"""``tables.docx``: every table of the report in one Word document, for a manuscript.

One file rather than one per table: an author opens it once and copies the tables needed,
each preceded by its number and caption ("Table 3.1. Pooled ... (tables/x.csv)") under the
heading of its section, in the order of the report; the cells are those of the Markdown
tables (the display frames). Word keeps a table's formatting when it is pasted into another
document. The file is deterministic: the document properties carry a fixed date (the ZIP
epoch, 1980-01-01) and the ZIP entries fixed timestamps, so two runs on the same study table
give identical bytes.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

import pandas as pd

from .html import cell_text
from .model import Section
from .tables import table_cells

#: the date stored in the document properties and on every ZIP entry
FIXED_DATE = dt.datetime(1980, 1, 1, tzinfo=dt.timezone.utc)
FONT, FONT_PT = "Arial", 8


def report_tables(sections: list[Section], excluded: pd.DataFrame, overview: pd.DataFrame):
    """``(heading, [(caption, file, frame), ...])`` for every section, then the rows not
    pooled and the overview, numbered as in ``index.html``."""
    out = []
    for i, s in enumerate(sections, 1):
        tabs = [(f"Table {i}.{j}. {t.caption}", f"{t.stem}.csv", t.display)
                for j, t in enumerate(s.tables, 1)]
        if s.sources is not None:
            tabs.append((f"Table {i}.{len(tabs) + 1}. Rows used", f"tables/{s.slug}_sources.csv",
                         s.sources_shown()))
        out.append((f"{i}. {s.title}", tabs))
    n = len(sections)
    out.append((f"{n + 1}. Rows not pooled",
                [(f"Table {n + 1}. Rows not pooled, with the reason", "tables/excluded_rows.csv",
                  excluded)]))
    out.append((f"{n + 2}. Study table overview",
                [(f"Table {n + 2}. Rows and studies per outcome × modality",
                  "tables/study_table_overview.csv", overview)]))
    return out


def _plain(text: str) -> str:
    return text.replace("`", "")


def _set_font(run, bold=False, size=FONT_PT):
    from docx.shared import Pt

    run.font.name = FONT
    run.font.size = Pt(size)
    run.bold = bold


def _cell_style(doc):
    """The paragraph style of table cells (Arial 8 pt, no space after)."""
    from docx.enum.style import WD_STYLE_TYPE
    from docx.shared import Pt

    if "Table text" in [s.name for s in doc.styles]:
        return doc.styles["Table text"]
    style = doc.styles.add_style("Table text", WD_STYLE_TYPE.PARAGRAPH)
    style.base_style = doc.styles["Normal"]
    style.font.name, style.font.size = FONT, Pt(FONT_PT)
    style.paragraph_format.space_after = Pt(0)
    style.paragraph_format.space_before = Pt(0)
    return style


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")  # not allowed in XML 1.0


def _xml_text(text: str) -> str:
    return xml_escape(_CONTROL.sub("", text))


def table_xml(frame: pd.DataFrame, table_style: str, cell_style: str) -> str:
    """The display frame as a WordprocessingML ``<w:tbl>`` (header row bold, repeated on
    every page; widths left to Word's autofit). Written as text and parsed once: building it
    cell by cell through python-docx took ~1 ms a cell (~20 s for the report's tables)."""
    head = [str(c) for c in frame.columns]
    rows = [[cell_text(v) for v in row] for row in table_cells(frame)]
    ppr = f'<w:pPr><w:pStyle w:val="{cell_style}"/></w:pPr>'

    def tr(cells, header):
        rpr = "<w:rPr><w:b/></w:rPr>" if header else ""
        trpr = "<w:trPr><w:tblHeader/></w:trPr>" if header else ""
        tcs = "".join(f'<w:tc><w:tcPr><w:tcW w:w="0" w:type="auto"/></w:tcPr><w:p>{ppr}'
                      f'<w:r>{rpr}<w:t xml:space="preserve">{_xml_text(c)}</w:t></w:r></w:p>'
                      "</w:tc>" for c in cells)
        return f"<w:tr>{trpr}{tcs}</w:tr>"

    grid = "".join("<w:gridCol/>" for _ in head)
    return (f"<w:tbl {nsdecls('w')}><w:tblPr><w:tblStyle w:val=\"{table_style}\"/>"
            '<w:tblW w:w="0" w:type="auto"/><w:tblLook w:val="04A0" w:firstRow="1" '
            'w:lastRow="0" w:firstColumn="1" w:lastColumn="0" w:noHBand="0" w:noVBand="1"/>'
            f"</w:tblPr><w:tblGrid>{grid}</w:tblGrid>{tr(head, True)}"
            + "".join(tr(r, False) for r in rows) + "</w:tbl>")


def _add_table(doc, frame: pd.DataFrame, styles: tuple[str, str]) -> None:
    """Append the table (``styles``: the table's and its cells' style ids) and an empty
    paragraph after it."""
    from docx.oxml import parse_xml

    tbl = parse_xml(table_xml(frame, *styles))
    doc.add_paragraph()._p.addprevious(tbl)


def nsdecls(*prefixes: str) -> str:
    from docx.oxml.ns import nsdecls as _nsdecls

    return _nsdecls(*prefixes)


def docx_bytes(sections: list[Section], excluded: pd.DataFrame, overview: pd.DataFrame,
               title: str = "iometa report: tables", subtitle: str = "") -> bytes:
    """The Word document (A4 landscape, Arial 8 pt tables) as deterministic bytes."""
    import docx
    from docx.enum.section import WD_ORIENT
    from docx.shared import Mm, Pt

    doc = docx.Document()
    sec = doc.sections[0]
    sec.orientation = WD_ORIENT.LANDSCAPE
    sec.page_width, sec.page_height = Mm(297), Mm(210)
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(sec, side, Mm(15))
    doc.styles["Normal"].font.name = FONT
    doc.styles["Normal"].font.size = Pt(10)
    doc.add_heading(title, level=0)
    if subtitle:
        doc.add_paragraph(_plain(subtitle))
    # looked up once: python-docx walks every style of the document for each lookup
    styles = (doc.styles["Table Grid"].style_id, _cell_style(doc).style_id)
    for heading, tabs in report_tables(sections, excluded, overview):
        doc.add_heading(heading, level=1)
        for caption, file, frame in tabs:
            p = doc.add_paragraph()
            _set_font(p.add_run(_plain(caption) + " "), bold=True, size=10)
            _set_font(p.add_run(f"({file})"), size=9)
            p.paragraph_format.keep_with_next = True
            _add_table(doc, frame, styles)
    props = doc.core_properties
    props.author = props.last_modified_by = "iometa report"
    props.title, props.revision = title, 1
    props.comments = "Written by iometa report: rerun the command rather than edit."
    props.created = props.modified = props.last_printed = FIXED_DATE.replace(tzinfo=None)
    buf = io.BytesIO()
    doc.save(buf)
    return fixed_zip(buf.getvalue())


def fixed_zip(data: bytes) -> bytes:
    """The ZIP archive ``data`` rewritten with every entry dated :data:`FIXED_DATE` (same
    order, names and contents), so that its bytes do not depend on the time it was written.

    Example
    -------
    >>> import io, zipfile
    >>> buf = io.BytesIO()
    >>> with zipfile.ZipFile(buf, "w") as z:
    ...     z.writestr("a.txt", "x")
    >>> zipfile.ZipFile(io.BytesIO(fixed_zip(buf.getvalue()))).infolist()[0].date_time
    (1980, 1, 1, 0, 0, 0)
    """
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=FIXED_DATE.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            dst.writestr(fixed, src.read(info.filename), compresslevel=6)
    return out.getvalue()


def write_docx(outdir: Path, studies: pd.DataFrame, data_path: Path, sections: list[Section],
               excluded: pd.DataFrame, overview: pd.DataFrame) -> Path:
    """Write ``outdir/tables.docx`` (see :func:`docx_bytes`) and return its path."""
    from .._version import __version__
    from .readme import data_fingerprint

    subtitle = (f"Tables of the iometa report of {Path(data_path).name} ({len(studies)} rows; "
                f"SHA-256 {data_fingerprint(data_path)}), iometa {__version__}. Numbers at full "
                "precision: tables/*.csv.")
    path = Path(outdir) / "tables.docx"
    path.write_bytes(docx_bytes(sections, excluded, overview, subtitle=subtitle))
    return path
