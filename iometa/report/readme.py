"""``reports/README.md``: introduction, table of contents and one part per section."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from .caveats import plural_of
from .config import ReportConfig
from .model import Section, plural
from .output import MARKER, markdown_table, md_text
from .tables import pct, text


def _names(values, most: int = 4) -> str:
    vals = sorted({str(v) for v in values})
    return ", ".join(vals[:most]) + (f" and {len(vals) - most} more" if len(vals) > most else "")


def provenance_text(studies: pd.DataFrame) -> str:
    """Where the table's rows were read, from the data: rows read in reviews (named by their
    ``source`` codes) and in the studies' own publications (``source_kind``)."""
    from ..data.sources import source_kind

    kind = source_kind(studies).to_numpy()
    src = [text(x) for x in studies["source"]] if "source" in studies else [""] * len(studies)
    review = [s for s, k in zip(src, kind) if k == "review"]
    n_rev, n_prim = len(review), int((kind == "primary").sum())
    named = [s for s in review if s]
    revs = sorted(set(named))
    by = (f" ({len(revs)} review{'s' if len(revs) != 1 else ''}: {_names(revs)})" if revs
          else "")
    if n_prim and n_rev:
        return (f"{plural(n_rev, 'row')} quote a review{by} and {n_prim} come from the studies' "
                "own publications (`source_kind`).")
    if n_prim:
        return "Every row comes from the studies' own publications (`source_kind`)."
    counts = pd.Series([s for s in src if s], dtype=object).value_counts()
    if counts.empty:
        return ""
    listed = ", ".join(f"{k} ({plural(int(v), 'row')})"
                       for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    return (f"The rows come from {plural(len(counts), 'source')} (column `source`): "
            f"{listed}.")


def comparison_text(studies: pd.DataFrame, cfg: ReportConfig) -> str:
    """Whether the groups are compared within studies (``comparison_id``) or only across them."""
    many = plural_of(cfg.group_label)
    cid = studies["comparison_id"] if "comparison_id" in studies else None
    has = ([text(x) != "" for x in cid] if cid is not None else [False] * len(studies))
    n = sum(has)
    if not n:
        return (f"No row comes from a study comparing {many} head to head (`comparison_id`), "
                f"so the comparisons between {many} are indirect (different patients, centres "
                "and eras)")
    ids = studies.loc[has, "study_id"].astype(str)
    return (f"{plural(n, 'row')} come from {plural(ids.nunique(), 'study', 'studies')} that "
            f"compare treatments head to head ({_names(ids)}; `comparison_id`), but each of "
            "their arms is pooled in its own group like a separate series; so the comparisons "
            f"between {many} are indirect (different patients, centres and eras)")


def _small_groups(sections: list[Section]) -> tuple[int, int]:
    """(groups pooled from one or two studies, groups pooled) over the sections' main tables."""
    ks = [int(k) for s in sections for t in s.tables[:1] if "k" in t.data
          for g, k in zip(t.data.get("group", [""] * len(t.data)), t.data["k"])
          if g != "All groups" and k > 0]
    return sum(k <= 2 for k in ks), len(ks)


def intro_text(studies: pd.DataFrame, sections: list[Section], cfg: ReportConfig) -> str:
    """The introduction, from the data: where the rows come from, whether any study compares
    the groups directly, and how many pooled groups rest on one or two studies."""
    small, total = _small_groups(sections)
    rest = (f"{small} of the {total} pooled groups rest on one or two studies" if total else
            "no group could be pooled")
    return " ".join(x for x in (
        "Pooled estimates of interventional-oncology outcomes from the study table, "
        "regenerated from the data by `iometa report`. Every number below is computed from the "
        "table; nothing is typed by hand.",
        provenance_text(studies),
        f"{comparison_text(studies, cfg)}, and {rest}: read them as a structured description "
        f"of the literature, not as evidence that one {cfg.group_label} is better.") if x)


def reading_text(cfg: ReportConfig, data_dictionary: str | None) -> str:
    """How to read the tables (the configured confidence level; the data dictionary, if the
    table has one)."""
    lvl = pct(cfg.level)
    others = sorted({pct(o["level"]) for o in cfg.overrides.values() if "level" in o} - {lvl})
    lvl_note = f" ({', '.join(others)} where the configuration says so)" if others else ""
    where = f" (see `{data_dictionary}`)" if data_dictionary else ""
    return (
        "How to read the tables: k = number of studies (rows) pooled; N = patients (or lesions) "
        "in them, where known (\"156 (2 of 5)\": known for 2 of the 5 studies); estimate with "
        f"its {lvl} confidence interval (CI){lvl_note}; {lvl} PI = prediction interval (the "
        "range in which a new study's true value is expected; k ≥ 3 only); I² = share of the "
        "variability due to between-study differences; τ² = between-study variance on the model "
        "scale; p = test for differences between the groups. \"–\" = not estimable or not "
        "reported. The CSV files hold the same numbers to 6 significant digits. Source = the "
        "`source` column as the table gives it, with the reference number (ref.) in that "
        f"source and the publication's PMID, DOI or URL where the table has them{where}; "
        "line = line of the study table.")


def config_text(cfg: ReportConfig) -> str:
    """One sentence on the report configuration ("" without one)."""
    if cfg.is_default:
        return ""
    name = Path(cfg.where).name if cfg.where != "report configuration" else "a mapping"
    outcomes = (", ".join(cfg.outcomes) if cfg.outcomes is not None
                else "every outcome of the table")
    over = f"; per-outcome settings for {', '.join(sorted(cfg.overrides))}" \
        if any(cfg.overrides.values()) else ""
    test = "Knapp–Hartung" if cfg.test == "knha" else "z"
    return (f" Report configuration `{md_text(name)}`: {md_text(outcomes)}, grouped by "
            f"`{md_text(cfg.group_by)}`; measure {cfg.measure}, {cfg.method} τ², {test} test, "
            f"{pct(cfg.level)} intervals{md_text(over)}.")


def data_dictionary(data_path: Path) -> str | None:
    """``data/README.md`` for the project's own table (its data dictionary), else None."""
    from ..data.load import default_data_path

    try:
        own = Path(data_path).resolve() == default_data_path().resolve()
    except OSError:
        return None
    return "data/README.md" if own and (default_data_path().parent / "README.md").is_file() \
        else None


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


def methods_text(sections: list[Section], cfg: ReportConfig | None = None) -> list[str]:
    """The shared methods (the configured model), and what the data allow for small-study
    checks."""
    from .caveats import (
        SELECTION_METHOD,
        median_method_text,
        override_text,
        proportion_method,
    )
    from .rates import RATE_METHOD
    from .survival import method_text

    cfg = cfg or ReportConfig()
    PROPORTION_METHOD = proportion_method(cfg)
    MEDIAN_METHOD = median_method_text(cfg)
    SURVIVAL_METHOD = method_text(cfg)

    groups = [t.data.loc[t.data.get("group") != "All groups", "k"] for s in sections
              for t in s.tables[:1] if "k" in t.data]
    kmax = max((int(k.max()) for k in groups if len(k)), default=0)
    small = ("Small-study effects (funnel plot, Egger's test) need about 10 studies per "
             f"analysis (Sterne et al. 2011, BMJ 343:d4002); the largest group here has k = "
             f"{kmax}, so none is shown." if kmax < 10 else
             "Small-study effects: see the funnel plots of the analyses with k ≥ 10.")
    kinds = {s.kind for s in sections}
    return ['<a id="methods"></a>\n\n## Methods\n',
            f"**Which rows are pooled.** {SELECTION_METHOD}\n",
            *([f"**Proportions.** {PROPORTION_METHOD}\n"] if "proportion" in kinds else []),
            *([f"**Median survival.** {MEDIAN_METHOD}\n"] if "median" in kinds else []),
            *([f"**Survival rates.** {SURVIVAL_METHOD}\n"] if "survival_rate" in kinds
              else []),
            *([f"**Rates per person-time.** {RATE_METHOD}\n"] if "rate" in kinds else []),
            *([f"**Per-outcome settings.** {over}\n"] if (over := override_text(cfg)) else []),
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
    if s.in_words:
        parts += [f"**In words.** {md_text(s.in_words)}\n"]
    parts += [f"**Method.** {s.method}\n"]
    parts += _bullets("Caveats", s.caveats)
    parts += _bullets("Notes from the analysis (warnings raised by the data)", s.notes)
    if s.sources is not None:
        parts += _bullets(f"Sources ({plural(len(s.sources), 'row')}; "
                          f"`tables/{s.slug}_sources.csv`)", s.source_lines())
    return parts


def readme_text(studies: pd.DataFrame, data_path: Path, sections: list[Section],
                excluded: pd.DataFrame, overview: pd.DataFrame,
                failures: list[tuple[str, str]] = (), cfg: ReportConfig | None = None) -> str:
    """The whole README.md (deterministic: no date, no absolute path)."""
    from .._version import __version__

    cfg = cfg or ReportConfig()
    n_rows, n_studies = len(studies), studies["study_id"].nunique()
    parts = [MARKER + "\n", f"# {md_text(cfg.title)}\n",
             intro_text(studies, sections, cfg) + "\n",
             f"Data: `{Path(data_path).name}` ({n_rows} rows, {n_studies} studies; SHA-256 "
             f"{data_fingerprint(data_path)}), iometa {__version__}. "
             f"{n_rows - len(excluded)} rows enter at least one analysis; {len(excluded)} do "
             "not, each with its reason in [Rows not pooled](#excluded_rows)."
             + config_text(cfg) + "\n",
             reading_text(cfg, data_dictionary(data_path)) + "\n"]
    parts += _bullets("Analyses that could not be run (the data were refused by the pool "
                      "function; their rows are listed under Rows not pooled)",
                      [f"{name}: {why}" for name, why in failures])
    parts += _toc(sections)
    parts += methods_text(sections, cfg)
    for i, s in enumerate(sections, 1):
        parts += section_text(s, i)
    n = len(sections)
    parts += ['<a id="excluded_rows"></a>\n\n'
              f"## {n + 1}. Rows not pooled\n",
              "Every row of the study table that no analysis above uses, with the reason "
              "(`tables/excluded_rows.csv`).\n", markdown_table(excluded),
              '<a id="study_table_overview"></a>\n\n'
              f"## {n + 2}. Study table overview\n",
              f"Rows and studies per outcome × {cfg.group_label}, and how many rows the "
              "analyses use "
              "(`tables/study_table_overview.csv`).\n", markdown_table(overview)]
    return "\n".join(parts)
