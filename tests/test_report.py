"""`iometa report`: deterministic, never stale, safe (nothing lost), every row accounted for,
and the numbers in its tables are the public API's numbers."""

from __future__ import annotations

import csv
import hashlib
import math
import shutil
import warnings
from pathlib import Path

import matplotlib
import pandas as pd
import pytest

import iometa
from iometa.cli import main
from iometa.report import sections as report_sections
from iometa.report.build import MARKER, ReportPathError, build_report
from iometa.report.select import one_row_per_population
from iometa.report.swap import MANIFEST

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DATA = REPO / "data"
COMMITTED = REPO / "reports"
#: matplotlib version the committed figures were drawn with (SVGs are compared byte for byte
#: only under this version; the tables always are)
FIGURES_MATPLOTLIB = "3.11.2"


def tree(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` (relative POSIX path -> bytes)."""
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def digest(root: Path) -> dict[str, str]:
    return {k: hashlib.sha256(v).hexdigest() for k, v in tree(root).items()}


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir()
                  if p.name.startswith((".iometa-report-", ".reports.old-", ".out.old-")))


# ----------------------------------------------------------------------------- synthetic data
def _row(header, sid, ref, modality, site, outcome, *, events=None, total=None, value=None,
         ci=(None, None), n=None, t=None, subgroup="", vtype="estimate"):
    if value is None:
        value = round(events / total, 4)
    row = dict.fromkeys(header, "")
    row.update(study_id=sid, author=f"{sid[:-4].capitalize()} A", year=sid[-4:],
               source="filippiadis2022", ref_no=ref, modality=modality, site=site,
               primary="breast", design="retrospective", n_patients=n or total or "",
               unit_of_analysis="patients", outcome=outcome, subgroup=subgroup,
               timepoint_months=t or "", events="" if events is None else events,
               total=total or "", value=value, value_type=vtype, ci_low=ci[0] or "",
               ci_high=ci[1] or "", unit="months" if outcome == "median_os" else "proportion",
               derived="false", quote="synthetic", notes="synthetic test row")
    return row


def write_synthetic(path: Path) -> Path:
    """A small valid study table that exercises every kind of section: two modalities with
    k ≥ 3 (subgroup test, leave-one-out), medians with CIs (inverse variance) and bare
    (weighted median), survival rates at two sites, a range and a toxicity type."""
    header = (DATA / "studies.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    rows = [_row(header, f"abl{chr(97 + i)}20{10 + i}", i + 1, m, "liver", "complete_ablation",
                 events=e, total=n)
            for i, (m, e, n) in enumerate([("RFA", 45, 50), ("RFA", 38, 45), ("RFA", 27, 31),
                                           ("RFA", 60, 70), ("MWA", 50, 52), ("MWA", 33, 36),
                                           ("MWA", 28, 30)])]
    rows += [_row(header, f"abl{chr(97 + i)}20{10 + i}", i + 1, m, "liver", "median_os",
                  value=v, ci=(lo, hi), n=n)
             for i, (m, v, lo, hi, n) in enumerate([("RFA", 30, 25, 36, 50),
                                                    ("RFA", 40, 33, 50, 45),
                                                    ("MWA", 35, 30, 41, 52),
                                                    ("MWA", 28, 22, 40, 36)])]
    rows += [_row(header, f"tra{chr(97 + i)}20{10 + i}", 20 + i, m, "liver", "median_os",
                  value=v, ci=(lo, hi), n=40)
             for i, (m, v, lo, hi) in enumerate([("TACE", 15, 12, 19), ("TARE", 10, 8, 13),
                                                 ("TARE", 12, None, None)])]
    rows += [_row(header, sid, 30 + i, m, site, "os_rate", value=v, n=n, t=12)
             for i, (sid, m, site, v, n) in enumerate([("abla2010", "RFA", "liver", 0.9, 50),
                                                       ("ablb2011", "RFA", "liver", 0.85, 45),
                                                       ("able2014", "MWA", "liver", 0.88, 52),
                                                       ("lung2015", "RFA", "lung", 0.8, 30)])]
    rows += [_row(header, "traa2010", 20, "TACE", "liver", "objective_response", value=v,
                  subgroup=f"range: {end}", vtype=f"range_{vt}")
             for v, end, vt in ((0.2, "lowest", "low"), (0.6, "highest", "high"))]
    rows.append(_row(header, "trab2011", 21, "TARE", "liver", "adverse_event", events=3,
                     total=40, subgroup="toxicity: early"))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=header)
        w.writeheader()
        w.writerows(rows)
    return path


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def project_builds(tmp_path_factory):
    """The project's report built twice into fresh directories, with data/ hashed around."""
    base = tmp_path_factory.mktemp("report")
    before = digest(DATA)
    outs = []
    for name in ("first", "second"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            outs.append(build_report(out=base / name, verbose=False))
        assert [str(w.message) for w in caught] == [], "the report printed warnings"
    return {"outs": outs, "data_before": before, "data_after": digest(DATA), "base": base}


@pytest.fixture(scope="module")
def synthetic_build(tmp_path_factory):
    base = tmp_path_factory.mktemp("synthetic")
    data = write_synthetic(base / "table" / "studies.csv")
    out = build_report(data=data, out=base / "out", verbose=False)
    return data, out


# ----------------------------------------------------------------------------- determinism
def test_two_runs_are_byte_identical(project_builds):
    first, second = (tree(p) for p in project_builds["outs"])
    assert sorted(first) == sorted(second)
    differ = [k for k in first if first[k] != second[k]]
    assert differ == []
    assert first[MANIFEST].decode().splitlines() == sorted(k for k in first if k != MANIFEST)
    kinds = {Path(k).suffix for k in first if k != MANIFEST}
    assert kinds == {".csv", ".md", ".png", ".svg", ".html", ".docx"}


def test_output_has_no_time_machine_or_path(project_builds):
    out = project_builds["outs"][0]
    text = "\n".join(v.decode("utf-8") for k, v in tree(out).items()
                     if k.endswith((".md", ".csv", ".svg", ".html")))
    for bad in (str(REPO), str(project_builds["base"]), "/tmp/", "/home/", "\\Users\\"):
        assert bad not in text
    assert "<dc:date>" not in text  # no SVG creation date


def test_committed_report_is_not_stale(project_builds):
    """The committed reports/ equals a fresh build: rerun `iometa report` and commit it when
    this fails."""
    fresh, committed = tree(project_builds["outs"][0]), tree(COMMITTED)
    assert sorted(committed) == sorted(fresh), "file list of reports/ differs: rerun iometa report"
    texts = [k for k in fresh if k.endswith((".csv", ".md"))]
    assert len(texts) > 40
    assert [k for k in texts if fresh[k] != committed[k]] == [], "rerun `iometa report`"
    if matplotlib.__version__ != FIGURES_MATPLOTLIB:
        pytest.skip(f"figures drawn with matplotlib {FIGURES_MATPLOTLIB}, "
                    f"not {matplotlib.__version__}: tables compared, SVGs not")
    svgs = [k for k in fresh if k.endswith((".svg", ".html"))]  # index.html inlines the SVGs
    assert [k for k in svgs if fresh[k] != committed[k]] == [], "rerun `iometa report`"


# ----------------------------------------------------------------------------- nothing lost
def test_data_directory_is_never_modified(project_builds):
    assert project_builds["data_after"] == project_builds["data_before"]


def test_every_row_is_pooled_or_listed_with_a_reason(project_builds):
    out = project_builds["outs"][0]
    studies = iometa.load_studies()
    excluded = pd.read_csv(out / "tables" / "excluded_rows.csv")
    used = set()
    for f in (out / "tables").glob("*_sources.csv"):
        used |= set(pd.read_csv(f)["line"].astype(int))
    lines = set(studies["line"].astype(int))
    assert used.isdisjoint(set(excluded["line"]))
    assert used | set(excluded["line"]) == lines
    assert excluded["reason"].notna().all() and (excluded["reason"].str.len() > 10).all()
    overview = pd.read_csv(out / "tables" / "study_table_overview.csv")
    assert overview["rows"].sum() == len(studies)
    assert overview["rows_not_pooled"].sum() == len(excluded)


def _old_report(out: Path) -> dict[str, str]:
    (out / "tables").mkdir(parents=True)
    (out / "README.md").write_text(MARKER + "\n# old report\n", encoding="utf-8")
    (out / "tables" / "old.csv").write_text("a\n1\n", encoding="utf-8")
    return digest(out)


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_interrupted_run_keeps_previous_report(tmp_path, monkeypatch, exc):
    out = tmp_path / "out"
    before = _old_report(out)
    written = []

    def boom(ctx):  # the third builder, after the first sections were written
        # tables are written by the build itself (figures may still be drawing in a child)
        written.extend(p.name for p in tmp_path.glob(".iometa-report-*/*/*.*"))
        raise exc("interrupted")

    monkeypatch.setattr(report_sections, "proportion_sections", boom)
    with pytest.raises(exc):
        build_report(out=out, verbose=False)
    assert written, "the failure should happen after files were written"
    assert digest(out) == before
    assert leftovers(tmp_path) == []


def test_bad_table_stops_before_writing(tmp_path, capsys):
    out = tmp_path / "out"
    before = _old_report(out)
    bad = tmp_path / "bad.csv"
    shutil.copy(HERE / "data" / "bad" / "events_exceed_total.csv", bad)
    assert main(["report", "--data", str(bad), "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert "events must not exceed total" in captured.err
    assert "report not written" in captured.err and "Traceback" not in captured.err
    assert captured.out == ""
    assert digest(out) == before and leftovers(tmp_path) == []


@pytest.mark.parametrize("where", ["data", "data/reports", "."])
def test_out_into_or_over_the_data_directory_is_refused(where, capsys):
    before = digest(DATA)
    assert main(["report", "--out", str(REPO / where)]) == 2
    err = capsys.readouterr().err
    assert "refusing" in err and "Traceback" not in err
    assert digest(DATA) == before
    assert not (DATA / "reports").exists()


def test_directory_of_data_file_and_foreign_directories_are_refused(tmp_path):
    data = write_synthetic(tmp_path / "studies.csv")
    with pytest.raises(ReportPathError, match="delete"):
        build_report(data=data, out=tmp_path, verbose=False)
    foreign = tmp_path / "documents"
    foreign.mkdir()
    (foreign / "thesis.docx").write_bytes(b"precious")
    with pytest.raises(ReportPathError, match="not a report written by iometa"):
        build_report(data=data, out=foreign, verbose=False)
    assert (foreign / "thesis.docx").read_bytes() == b"precious"
    assert data.exists() and leftovers(tmp_path) == []


# ----------------------------------------------------------------------------- content
def test_project_report_sections(project_builds):
    out = project_builds["outs"][0]
    readme = (out / "README.md").read_text(encoding="utf-8")
    assert readme.startswith(MARKER)
    for slug in ("median_os_ablation_liver", "median_os_transarterial",
                 "os_rate_by_modality_site", "partial_response_by_modality"):
        assert (out / "figures" / f"{slug}.svg").exists()
        assert (out / "figures" / f"{slug}.png").exists()
        assert f'<a id="{slug}"></a>' in readme
    trans = pd.read_csv(out / "tables" / "median_os_transarterial.csv")
    assert trans["group"].tolist() == ["TACE", "DEB-TACE", "TARE", "TARE+ICI", "All groups"]
    assert (trans["model"].iloc[:4] == "median of medians").all()
    assert trans["p_between"].isna().all() and trans["i2"].isna().all()
    abl = pd.read_csv(out / "tables" / "median_os_ablation_liver.csv")
    assert abl.set_index("group").loc["cryoablation", "k"] == 0
    assert "Figure not produced" not in readme


@pytest.mark.filterwarnings("ignore::iometa.IometaWarning")
def test_project_report_numbers_come_from_the_api(project_builds):
    out = project_builds["outs"][0]
    tab = pd.read_csv(out / "tables" / "partial_response_by_modality.csv")
    res = iometa.pool_proportions([27, 3], [208, 41], measure="PLO", method="REML")
    row = tab.set_index("group").loc["TACE"]
    assert row["k"] == 2 and row["N"] == 249
    assert math.isclose(row["estimate"], res.estimate, rel_tol=1e-5)
    assert math.isclose(row["ci_low"], res.ci_low, rel_tol=1e-5)
    assert math.isnan(row["pi_low"])  # no prediction interval for k = 2


def test_synthetic_table_numbers(synthetic_build):
    data, out = synthetic_build
    studies = iometa.load_studies(data)
    tab = pd.read_csv(out / "tables" / "complete_ablation_by_modality.csv").set_index("group")
    rows = studies[studies["outcome"] == "complete_ablation"].reset_index(drop=True)
    res = iometa.pool_proportions(rows["events"].to_numpy(float), rows["total"].to_numpy(float))
    sub = iometa.subgroups(res, rows["modality"].astype(str).tolist())
    for g in ("RFA", "MWA"):
        assert math.isclose(tab.loc[g, "estimate"], sub.groups[g].estimate, rel_tol=1e-5)
        assert tab.loc[g, "k"] == sub.groups[g].k
    assert math.isclose(tab.loc["All groups", "p_between"], sub.test_separate.pval,
                        rel_tol=1e-5)
    loo = pd.read_csv(out / "tables" / "complete_ablation_by_modality_leave_one_out.csv")
    assert len(loo) == 7 and set(loo["group"]) == {"RFA", "MWA"}
    med = pd.read_csv(out / "tables" / "median_os_ablation_liver.csv").set_index("group")
    assert med.loc["RFA", "model"] == "log median, REML"
    assert 0 < med.loc["All groups", "p_between"] < 1
    trans = pd.read_csv(out / "tables" / "median_os_transarterial.csv").set_index("group")
    assert trans.loc["TARE", "model"] == "weighted median of medians"
    assert math.isnan(trans.loc["TACE", "ci_low"])  # one bare median: no CI
    surv = pd.read_csv(out / "tables" / "os_rate_by_modality_site.csv")
    tested = surv.dropna(subset=["p_between"])["group"].tolist()
    assert sorted(tested) == ["MWA / liver", "RFA / liver"]  # lung is not tested vs liver
    excluded = pd.read_csv(out / "tables" / "excluded_rows.csv")
    assert len(excluded) == 3
    assert excluded["reason"].str.contains("range").sum() == 2
    assert excluded["reason"].str.contains("one type of adverse event").sum() == 1


def test_broken_plot_function_keeps_the_tables(tmp_path, monkeypatch):
    data = write_synthetic(tmp_path / "table" / "studies.csv")

    def broken(*args, **kwargs):
        raise ValueError("plot engine broken")

    monkeypatch.setattr(iometa, "forest_plot", broken, raising=False)
    out = build_report(data=data, out=tmp_path / "out", verbose=False)
    readme = (out / "README.md").read_text(encoding="utf-8")
    assert "Figure not produced" in readme and "plot engine broken" in readme
    assert (out / "tables" / "complete_ablation_by_modality.csv").exists()
    assert (out / "figures" / "os_rate_by_modality_site.svg").exists()  # survival_plot works


def test_analysis_refusing_the_data_is_reported_not_fatal(tmp_path, monkeypatch, capsys):
    data = write_synthetic(tmp_path / "table" / "studies.csv")

    def refuse(ctx, outcome, rows, t, several, unit=None):
        raise ValueError(f"study {rows['label'][0]!r}: refused")

    monkeypatch.setattr(report_sections, "_proportion_section", refuse)
    out = build_report(data=data, out=tmp_path / "out", verbose=True)
    printed = capsys.readouterr().out
    assert "not run: Complete ablation by modality — study 'Abla 2010': refused" in printed
    readme = (out / "README.md").read_text(encoding="utf-8")
    assert "Analyses that could not be run" in readme and "refused" in readme
    excluded = pd.read_csv(out / "tables" / "excluded_rows.csv")
    failed = excluded[excluded["outcome"] == "complete_ablation"]
    assert len(failed) == 7 and failed["reason"].str.contains("could not be run").all()
    assert (out / "tables" / "median_os_ablation_liver.csv").exists()


# ----------------------------------------------------------------------------- selection rule
def _rows(**cols):
    n = len(next(iter(cols.values())))
    base = {"study_id": ["s"] * n, "line": list(range(2, 2 + n)), "subgroup": [""] * n,
            "modality": ["TARE+ICI"] * n, "timepoint_months": [None] * n,
            "n_patients": [20] * n}
    base.update(cols)
    return pd.DataFrame(base)


def test_selection_prefers_the_whole_population():
    kept, left = one_row_per_population(_rows(subgroup=["arm: A", "", "toxicity: early"]), "x")
    assert kept["line"].tolist() == [3]
    assert [ln for ln, _ in left] == [2, 4] and all("line 3" in why for _, why in left)


def test_selection_arms_are_cohorts_without_n():
    kept, left = one_row_per_population(_rows(subgroup=["arm: A", "arm: B"]), "x")
    assert kept["line"].tolist() == [2, 3] and left == []
    assert kept["n_used"].isna().all()


def test_selection_time_origin_from_the_procedure():
    kept, left = one_row_per_population(
        _rows(subgroup=["origin: ICI start", "origin: TARE"]), "median_os")
    assert kept["line"].tolist() == [3]
    assert left[0][0] == 2 and "time origin" in left[0][1]


def test_selection_types_and_strata_are_not_pooled():
    kept, left = one_row_per_population(
        _rows(study_id=["a", "a", "b"], subgroup=["type: x", "type: y", "lesion <3 cm"]),
        "complication")
    assert kept.empty
    assert "one type of complication" in left[0][1] and "stratum" in left[2][1]


def test_row_loops_read_the_cells_itertuples_and_to_dict_give():
    """The report's row loops read only the columns they need (report.tables.cells,
    table_cells, records); the cells are those of itertuples / to_dict, type for type
    (numpy scalars of Int64 columns, None for missing cells in records)."""
    from iometa.report.tables import cells, records, table_cells

    df = iometa.load_studies().head(40)
    cols = ["line", "events", "value", "modality", "subgroup", "derived"]
    assert list(cells(df, *cols)) == [tuple(getattr(r, c) for c in cols)
                                      for r in df.itertuples()]
    tuples = [tuple(r) for r in df.itertuples(index=False)]
    got = list(table_cells(df))
    assert len(got) == len(tuples) == 40
    for a, b in zip(got, tuples):
        assert [type(x) for x in a] == [type(x) for x in b]
        assert all(x is y or x == y or (pd.isna(x) and pd.isna(y)) for x, y in zip(a, b))
    want = [{c: r[c] for c in ("events", "pmid")} for r in df.to_dict("records")]
    assert records(df, ("events", "pmid", "no_such_column")) == want


def test_section_sources_views_are_computed_once_and_follow_the_sources():
    from iometa.report.model import Section
    from iometa.report.tables import source_list, sources_display, sources_frame

    rows = iometa.load_studies().head(6).assign(label=[f"S{i}" for i in range(6)])
    src = sources_frame(rows, "modality", ["value"])
    s = Section("x", "X", "proportion", "", "", [], sources=src)
    shown = s.sources_shown()
    assert shown is s.sources_shown() and s.source_lines() is s.source_lines()
    pd.testing.assert_frame_equal(shown, sources_display(src, "proportion"))
    assert s.source_lines() == source_list(src)
    s.sources = src.head(2)
    assert len(s.sources_shown()) == 2 and s.source_lines() == source_list(src.head(2))
