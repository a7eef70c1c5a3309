"""``reports/README.md``: introduction, table of contents and one part per section."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from .model import Section, plural
from .output import MARKER, markdown_table, md_text
from .tables import source_list

INTRO = (
    "Pooled estimates of interventional-oncology outcomes from the study table, regenerated "
    "from the data by `iometa report`. Every number below is computed from the table; nothing "
    "is typed by hand. The studies are single-arm series quoted by two narrative reviews, so "
    "the comparisons between modalities are indirect (different patients, centres and eras; "
    "no head-to-head data) and most analyses rest on one or two studies: read them as a "
    "structured description of the literature, not as evidence that one modality is better.")

READING = (
    "How to read the tables: k = number of studies (rows) pooled; N = patients (or lesions) "
    "in them, where known (\"156 (2 of 5)\": known for 2 of the 5 studies); estimate with its "
    "95% confidence interval (CI); 95% PI = prediction interval (the range in which a new "
    "study's true value is expected; k ≥ 3 only); I² = share of the variability due to "
    "between-study differences; τ² = between-study variance on the model scale; p = test for "
    "differences between the groups. \"–\" = not estimable or not reported. The CSV files "
    "hold the same numbers at full precision. Reference numbers (ref.) are those of the review "
    "named before them (see `data/README.md`); line = line of the study table.")


def data_fingerprint(path: Path) -> str:
    """SHA-256 (first 12 hex digits) of the study table with line endings normalised."""
    raw = Path(path).read_bytes().replace(b"\r\n", b"\n")
    return hashlib.sha256(raw).hexdigest()[:12]


def _toc(sections: list[Section]) -> list[str]:
    lines = ["## Contents\n", "The models and the rule that decides which rows are pooled are in "
             "[Methods](#methods).\n"]
    for i, s in enumerate(sections, 1):
        used = "" if s.sources is None else f" ({plural(len(s.sources), 'row')})"
        lines.append(f"{i}. [{s.title}](#{s.slug}){used}")
    lines.append(f"{len(sections) + 1}. [Rows not pooled](#excluded_rows)")
    lines.append(f"{len(sections) + 2}. [Study table overview](#study_table_overview)")
    return ["\n".join(lines) + "\n"]


def methods_text(sections: list[Section]) -> list[str]:
    """The shared methods, and what the data allow for small-study checks."""
    from .caveats import MEDIAN_METHOD, PROPORTION_METHOD, SELECTION_METHOD
    from .survival import METHOD as SURVIVAL_METHOD

    groups = [t.data.loc[t.data.get("group") != "All groups", "k"] for s in sections
              for t in s.tables[:1] if "k" in t.data]
    kmax = max((int(k.max()) for k in groups if len(k)), default=0)
    small = ("Small-study effects (funnel plot, Egger's test) need about 10 studies per "
             f"analysis (Sterne et al. 2011, BMJ 343:d4002); the largest group here has k = "
             f"{kmax}, so none is shown." if kmax < 10 else
             "Small-study effects: see the funnel plots of the analyses with k ≥ 10.")
    return ['<a id="methods"></a>\n\n## Methods\n',
            f"**Which rows are pooled.** {SELECTION_METHOD}\n",
            f"**Proportions.** {PROPORTION_METHOD}\n",
            f"**Median survival.** {MEDIAN_METHOD}\n",
            f"**Survival rates.** {SURVIVAL_METHOD}\n",
            "**Heterogeneity and intervals.** I² and τ² are shown for k ≥ 2 and prediction "
            "intervals for k ≥ 3 (Riley, Higgins & Deeks 2011, BMJ 342:d549); with k = 1 the "
            "\"pooled\" value is the study's own result.\n",
            f"**Small-study effects.** {small}\n"]


def _figure(s: Section) -> list[str]:
    if s.figure_missing:
        return [f"*Figure not produced: {s.figure_missing}*\n"]
    png = [f for f in s.figure_files if f.endswith(".png")]
    svg = [f for f in s.figure_files if f.endswith(".svg")]
    if not png:
        return []
    link = f" ([SVG]({svg[0]}))" if svg else ""
    return [f"![{s.title}]({png[0]})\n\nFigure: `{png[0]}`{link}\n"]


def _bullets(title: str, items: list[str]) -> list[str]:
    if not items:
        return []
    return [f"**{title}**\n\n" + "\n".join(f"- {md_text(x)}" for x in items) + "\n"]


def section_text(s: Section, number: int) -> list[str]:
    """The README part of one section."""
    parts = [f'<a id="{s.slug}"></a>\n\n## {number}. {s.title}\n', s.summary + "\n"]
    parts += _figure(s)
    for t in s.tables:
        parts += [f"**{t.caption}** (`{t.stem}.csv`, `{t.stem}.md`)\n", markdown_table(t.display)]
    parts += [f"**Method.** {s.method}\n"]
    parts += _bullets("Caveats", s.caveats)
    parts += _bullets("Notes from the analysis (warnings raised by the data)", s.notes)
    if s.sources is not None:
        parts += _bullets(f"Sources ({plural(len(s.sources), 'row')}; "
                          f"`tables/{s.slug}_sources.csv`)", source_list(s.sources))
    return parts


def readme_text(studies: pd.DataFrame, data_path: Path, sections: list[Section],
                excluded: pd.DataFrame, overview: pd.DataFrame,
                failures: list[tuple[str, str]] = ()) -> str:
    """The whole README.md (deterministic: no date, no absolute path)."""
    from .._version import __version__

    n_rows, n_studies = len(studies), studies["study_id"].nunique()
    parts = [MARKER + "\n", "# iometa report\n", INTRO + "\n",
             f"Data: `{Path(data_path).name}` ({n_rows} rows, {n_studies} studies; SHA-256 "
             f"{data_fingerprint(data_path)}), iometa {__version__}. "
             f"{n_rows - len(excluded)} rows enter at least one analysis; {len(excluded)} do "
             "not, each with its reason in [Rows not pooled](#excluded_rows).\n",
             READING + "\n"]
    parts += _bullets("Analyses that could not be run (the data were refused by the pool "
                      "function; their rows are listed under Rows not pooled)",
                      [f"{name}: {why}" for name, why in failures])
    parts += _toc(sections)
    parts += methods_text(sections)
    for i, s in enumerate(sections, 1):
        parts += section_text(s, i)
    n = len(sections)
    parts += ['<a id="excluded_rows"></a>\n\n'
              f"## {n + 1}. Rows not pooled\n",
              "Every row of the study table that no analysis above uses, with the reason "
              "(`tables/excluded_rows.csv`).\n", markdown_table(excluded),
              '<a id="study_table_overview"></a>\n\n'
              f"## {n + 2}. Study table overview\n",
              "Rows and studies per outcome × modality, and how many rows the analyses use "
              "(`tables/study_table_overview.csv`).\n", markdown_table(overview)]
    return "\n".join(parts)
