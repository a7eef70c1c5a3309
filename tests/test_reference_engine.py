"""The pooling engine against R's metafor (fixtures in tests/reference/engine.json).

The fixtures are written by ``tests/reference/R/engine.R`` (run it through
``Rscript tests/reference/make_reference.R engine``); every case is one ``rma()`` fit with tight
controls, its ``predict()`` (model and reporting scale) and its Q-profile ``confint()``.

JSON encoding (decoded by ``_num``, :func:`_fixture.decode`):

* ``null`` -> R ``NA`` or a quantity metafor does not compute (the prediction interval of an
  FE model, the tau^2 / I^2 / H^2 CI of an FE model, of k = 1 and of a fixed tau^2). iometa
  must give ``nan`` (or ``None``) there;
* the strings ``"NaN"``, ``"Inf"``, ``"-Inf"`` -> the IEEE specials;
* numbers carry 15 significant digits.

Numbers are compared with ``|a - b| <= 1e-6 * |b| + 1e-10`` (``b`` = metafor).

Documented expected behaviours (adjust here if the engine settles on another convention):

* R warned ``Setting argument test="z" since k=1.`` -> iometa warns (an ``IometaWarning``) and
  returns the z-test results (``df`` is None), as metafor does.
* R warned ``Knapp & Hartung method is not meant to be used in the context of FE models.`` ->
  iometa warns (an ``IometaWarning``) and returns the Knapp-Hartung results, as metafor does.
* FE models: ``predict()`` in metafor has no prediction interval. iometa may give ``nan`` or
  the confidence interval (the PI formula with tau^2 = 0 collapses to the CI); both pass.
* Q-profile CI whose upper limit lies beyond metafor's search interval (confint ub.sign ">",
  e.g. k = 2 studies with Q < 1): metafor reports tau2.max = max(100, 10 tau2); iometa may
  report that or any larger value (the true limit).
* I^2 / H^2 (and their CIs) get the tau^2 tolerance propagated (100 * 1e-10 / vt and
  1e-10 / vt absolute): metafor's Fisher scoring stops at tau^2 ~ 1e-13 instead of 0 at the
  boundary.
* No case in the current fixtures has an R *error* in the fit; should one appear after a
  regeneration, iometa must raise ``ValueError`` or warn with an ``IometaWarning``.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _fixture import decode as _num

import iometa

REF_PATH = Path(__file__).parent / "reference" / "engine.json"
FIXTURE: dict[str, Any] = (
    json.loads(REF_PATH.read_text())
    if REF_PATH.exists()
    else {"meta": {}, "cases": [], "study_ci": []}
)
CASES: list[dict[str, Any]] = FIXTURE["cases"]
STUDY_CI: list[dict[str, Any]] = FIXTURE["study_ci"]

RTOL = 1e-6
ATOL = 1e-10

# R warnings (substrings) and what iometa must do about them; see the module docstring
WARN_K1_Z = 'Setting argument test="z" since k=1.'
WARN_FE_KNHA = "Knapp & Hartung method is not meant to be used"
KNOWN_R_WARNINGS = (WARN_K1_Z, WARN_FE_KNHA)


# ---------------------------------------------------------------------------- helpers
def _as_float_array(value: Any) -> np.ndarray:
    if value is None:
        return np.array([math.nan])
    arr = np.asarray(value, dtype=float).ravel()
    return arr


def close_mismatches(name: str, actual: Any, expected: Any, atol: float = ATOL) -> list[str]:
    """Return a list of mismatch descriptions (empty if ``actual`` matches ``expected``).

    Elementwise ``|a - b| <= RTOL * |b| + atol``; a nan expected value requires a nan (or None)
    actual value; infinities must match exactly.
    """
    exp = _as_float_array(_num(expected) if not isinstance(expected, np.ndarray) else expected)
    try:
        act = _as_float_array(actual)
    except (TypeError, ValueError):
        return [f"{name}: python={actual!r} is not numeric (R={exp.tolist()})"]
    if act.shape != exp.shape:
        return [
            f"{name}: shape python={act.shape} R={exp.shape} ({act.tolist()} vs {exp.tolist()})"
        ]
    out = []
    for i, (a, b) in enumerate(zip(act, exp)):
        label = name if exp.size == 1 else f"{name}[{i}]"
        if math.isnan(b):
            if not math.isnan(a):
                out.append(f"{label}: python={a!r} R=NA/NaN")
        elif math.isinf(b):
            if a != b:
                out.append(f"{label}: python={a!r} R={b!r}")
        elif not (abs(a - b) <= RTOL * abs(b) + atol):
            rel = abs(a - b) / abs(b) if b != 0 else math.inf
            out.append(f"{label}: python={a!r} R={b!r} (abs diff {abs(a - b):.3g}, rel {rel:.3g})")
    return out


def assert_close(actual: Any, expected: Any, name: str = "value") -> None:
    problems = close_mismatches(name, actual, expected)
    if problems:
        pytest.fail("\n".join(problems))


def _engine_available() -> str | None:
    try:
        iometa.pool  # noqa: B018
        iometa.pool_proportions  # noqa: B018
    except (ImportError, AttributeError) as exc:
        return f"pooling engine not importable yet: {exc!r}"
    return None


def _requires_engine() -> None:
    reason = _engine_available()
    if reason is not None:
        pytest.skip(reason)


def _fit(case: dict[str, Any]):
    """Run iometa on one fixture case; returns (result or None, exception or None, warnings)."""
    level = case["level"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if case["kind"] == "proportion":
                res = iometa.pool_proportions(
                    [int(v) for v in case["events"]],
                    [int(v) for v in case["n"]],
                    measure=case["measure"],
                    method=case["method"],
                    test=case["test"],
                    level=level,
                    labels=case["labels"],
                )
            else:
                tau2 = case.get("tau2_arg")
                res = iometa.pool(
                    _num(case["yi"]),
                    _num(case["vi"]),
                    method=case["method"],
                    test=case["test"],
                    level=level,
                    labels=case["labels"],
                    tau2=None if tau2 is None else float(tau2),
                )
        except ValueError as exc:
            return None, exc, list(caught)
    return res, None, list(caught)


def _iometa_warnings(caught: list[warnings.WarningMessage]) -> list[warnings.WarningMessage]:
    return [w for w in caught if issubclass(w.category, iometa.IometaWarning)]


def _is_all_nan(x: Any) -> bool:
    arr = _as_float_array(x)
    return bool(np.all(np.isnan(arr)))


def compare_case(case: dict[str, Any], res: Any) -> list[str]:
    """All mismatches between an iometa result and one fixture case."""
    bad: list[str] = []

    def chk(name: str, actual: Any, expected: Any, atol: float = ATOL) -> None:
        bad.extend(close_mismatches(name, actual, expected, atol))

    def attr(name: str) -> Any:
        if not hasattr(res, name):
            bad.append(f"{name}: missing on the result")
            return math.nan
        return getattr(res, name)

    # model scale
    for name in ("coef", "se", "stat", "pval", "coef_ci_low", "coef_ci_high"):
        chk(name, attr(name), case[name])
    df = attr("df")
    if case["df"] is None:
        if df is not None and not _is_all_nan(df):
            bad.append(f"df: python={df!r} R=None (z test)")
    else:
        chk("df", df, case["df"])

    # prediction interval: (python attribute, R key of the PI, R key of the matching CI)
    fe_no_pi = not case["pi_available"]
    pi_keys = [
        ("coef_pi_low", "coef_pi_low", "coef_ci_low"),
        ("coef_pi_high", "coef_pi_high", "coef_ci_high"),
    ]
    if case["kind"] == "proportion":
        pi_keys += [("pi_low", "pi_low", "ci_low"), ("pi_high", "pi_high", "ci_high")]
    else:  # pool(): the reporting scale is the model scale
        pi_keys += [
            ("pi_low", "coef_pi_low", "coef_ci_low"),
            ("pi_high", "coef_pi_high", "coef_ci_high"),
        ]
    for py_name, pi_key, ci_key in pi_keys:
        value = attr(py_name)
        if not fe_no_pi:
            chk(py_name, value, case[pi_key])
        elif not _is_all_nan(value):
            # metafor gives no PI for FE models: accept nan, or the CI (tau^2 = 0)
            chk(f"{py_name} (FE: metafor has no PI; nan or the CI accepted)", value, case[ci_key])

    # reporting scale
    if case["kind"] == "proportion":
        for name in ("estimate", "ci_low", "ci_high"):
            chk(name, attr(name), case[name])
    else:
        chk("estimate", attr("estimate"), case["coef"])
        chk("ci_low", attr("ci_low"), case["coef_ci_low"])
        chk("ci_high", attr("ci_high"), case["coef_ci_high"])

    # heterogeneity
    k = attr("k")
    if k != case["k"]:
        bad.append(f"k: python={k!r} R={case['k']!r}")
    # I^2 = 100 tau2 / (vt + tau2) and H^2 = 1 + tau2 / vt amplify the absolute tolerance of
    # tau2 by 100 / vt and 1 / vt. This matters where metafor's ML/REML Fisher scoring stops a
    # hair above the boundary (tau2 ~ 1e-13 with threshold = 1e-12; the exact answer is 0), which
    # gives I^2 ~ 1e-8 % for small vt (e.g. ablation_inline-PR-REML).
    vt = _num(case["vt"])
    tau2_atol = {"i2": ATOL, "h2": ATOL}
    if math.isfinite(vt) and vt > 0:
        tau2_atol = {"i2": max(ATOL, 100 * ATOL / vt), "h2": max(ATOL, ATOL / vt)}
    for name in ("tau2", "q", "q_df", "q_pval"):
        chk(name, attr(name), case[name])
    chk("i2", attr("i2"), case["i2"], tau2_atol["i2"])
    chk("h2", attr("h2"), case["h2"], tau2_atol["h2"])
    # Q-profile CI. Where the upper limit lies beyond metafor's search interval
    # (tau2.max = max(100, 10 * tau2)) metafor reports tau2.max and flags it ">" (ub.sign);
    # the true limit is larger, so iometa may report tau2.max or any value above it.
    capped = case.get("confint_signs", ["", ""])[1] == ">"
    for name in ("tau2_ci", "i2_ci", "h2_ci"):
        atol = tau2_atol.get(name[:2], ATOL)
        value = attr(name)
        if capped and not _is_all_nan(value) and np.size(value) == 2:
            lo, hi = (float(x) for x in np.asarray(value, dtype=float))
            chk(f"{name}[0]", lo, case[name][0], atol)
            if not hi >= _num(case[name][1]) * (1 - RTOL):
                bad.append(f"{name}[1]: python={hi!r} below metafor's capped limit {case[name][1]}")
        else:
            chk(name, value, case[name], atol)

    # per study
    studies = attr("studies")
    if studies is not None and hasattr(studies, "columns"):
        need = ["label", "yi", "vi", "weight", "estimate", "ci_low", "ci_high"]
        if case["kind"] == "proportion":
            need += ["events", "n"]
        missing = [c for c in need if c not in studies.columns]
        if missing:
            bad.append(f"studies: missing columns {missing}")
        if "yi" in studies.columns:
            chk("studies.yi", studies["yi"].to_numpy(dtype=float), case["yi"])
        if "vi" in studies.columns:
            chk("studies.vi", studies["vi"].to_numpy(dtype=float), case["vi"])
        if "weight" in studies.columns:
            chk("studies.weight", studies["weight"].to_numpy(dtype=float), case["weights"])
        if "label" in studies.columns and list(studies["label"]) != list(case["labels"]):
            bad.append(f"studies.label: python={list(studies['label'])} R={case['labels']}")
    else:
        bad.append("studies: not a DataFrame")
    return bad


# ---------------------------------------------------------------------------- tests
def test_fixture_present_and_described():
    assert REF_PATH.exists(), "run: Rscript tests/reference/make_reference.R engine"
    meta = FIXTURE["meta"]
    for key in ("r_version", "metafor_version", "date"):
        assert meta.get(key), key
    assert meta["n_cases"] == len(CASES) > 0
    ids = [c["id"] for c in CASES]
    assert len(ids) == len(set(ids)), "fixture case ids must be unique"
    unknown = {w for c in CASES for w in c["warnings"] if not any(k in w for k in KNOWN_R_WARNINGS)}
    assert not unknown, f"new R warnings need a documented expectation: {sorted(unknown)}"


def test_close_helper():
    assert not close_mismatches("x", 1.0 + 5e-7, 1.0)
    assert close_mismatches("x", 1.0 + 2e-6, 1.0)
    assert not close_mismatches("x", 5e-11, 0.0)
    assert not close_mismatches("x", math.nan, None)
    assert close_mismatches("x", 0.0, None)
    assert not close_mismatches("x", [math.inf, 1.0], ["Inf", 1.0])
    assert not close_mismatches("x", (math.nan, math.nan), [None, None])


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_engine_matches_metafor(case: dict[str, Any]) -> None:
    _requires_engine()
    res, exc, caught = _fit(case)
    r_warnings = case["warnings"]

    if "error" in case:
        # R refused this fit: iometa must refuse (ValueError) or warn (IometaWarning)
        assert exc is not None or _iometa_warnings(caught), (
            f"R failed with {case['error']!r}; iometa neither raised ValueError nor warned"
        )
        return

    assert exc is None, f"iometa raised {exc!r}; R fitted this case (warnings: {r_warnings})"
    if any(WARN_K1_Z in w or WARN_FE_KNHA in w for w in r_warnings):
        # documented expected behaviour: iometa warns, then reports what metafor reports
        assert _iometa_warnings(caught), f"R warned {r_warnings}; iometa did not warn"

    problems = compare_case(case, res)
    if problems:
        pytest.fail(
            f"{case['id']}: {len(problems)} mismatch(es) vs metafor\n" + "\n".join(problems)
        )


STUDY_CI_LEVELS = sorted({c["level"] for c in STUDY_CI})


@pytest.mark.parametrize("level", STUDY_CI_LEVELS)
@pytest.mark.parametrize(
    "kind, func_name", [("clopper_pearson", "ci_clopper_pearson"), ("wilson", "ci_wilson")]
)
def test_study_ci_matches_r(kind: str, func_name: str, level: float) -> None:
    try:
        func = getattr(iometa, func_name)
    except (ImportError, AttributeError) as exc:
        pytest.skip(f"{func_name} not importable yet: {exc!r}")
    rows = [c for c in STUDY_CI if c["level"] == level]
    events = np.array([c["events"] for c in rows], dtype=int)
    n = np.array([c["n"] for c in rows], dtype=int)
    low, high = func(events, n, level=level)
    bad = []
    for i, row in enumerate(rows):
        tag = f"{kind} {row['events']}/{row['n']} level={level}"
        bad += close_mismatches(f"{tag} low", np.asarray(low, dtype=float)[i], row[kind][0])
        bad += close_mismatches(f"{tag} high", np.asarray(high, dtype=float)[i], row[kind][1])
    if bad:
        pytest.fail("\n".join(bad))
