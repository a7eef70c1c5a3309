"""Text and HTML renderings of meta-regressions, subgroup analyses and permutation tests
(no statistics here)."""

from __future__ import annotations

import html

import pandas as pd

from ..core.format import (
    cautions_html,
    check_pscale,
    display_frame,
    fmt,
    fmt_p,
    fmt_pct,
    html_digits,
    scale_label,
)


def _table(frame: pd.DataFrame, digits: int, pscale: float = 1.0) -> str:
    return display_frame(frame, digits, pscale).to_string(index=False)


def moderator_test_line(reg, digits=4) -> str:
    """``QM(df = 2) = 12.2, p-val = .002`` (or the F form under Knapp–Hartung)."""
    if reg.qm_df2 is not None:
        return (f"F(df1 = {reg.qm_df}, df2 = {reg.qm_df2}) = {fmt(reg.qm, digits)}, "
                f"p-val = {fmt_p(reg.qm_pval, digits)}")
    return f"QM(df = {reg.qm_df}) = {fmt(reg.qm, digits)}, p-val = {fmt_p(reg.qm_pval, digits)}"


def regression_summary(reg, digits=4) -> str:
    kind = "Fixed-effects" if reg.method == "FE" else "Mixed-effects"
    coefs = ", ".join(reg.terms[i] for i in reg.btt)
    est = (f"ML, {reg.extra.get('family', 'binomial')}-normal GLMM, nAGQ = "
           f"{reg.extra.get('nagq', 7)}" if reg.method == "GLMM" else reg.method)
    lines = [f"{kind} meta-regression (k = {reg.k}; tau^2 estimator: {est}; "
             f"test: {reg.test})", ""]
    if reg.method != "FE":
        lines += [f"tau^2 (estimated amount of residual heterogeneity):     {fmt(reg.tau2, digits)}",
                  f"I^2 (residual heterogeneity / unaccounted variability): {fmt_pct(reg.i2)}",
                  f"H^2 (unaccounted variability / sampling variability):   {fmt(reg.h2, 2)}"]
    if reg.r2 is not None:
        lines.append(f"R^2 (amount of heterogeneity accounted for):            {fmt_pct(reg.r2)}")
    if reg.method == "GLMM":  # rma.glmm prints the Wald-type and likelihood-ratio tests
        het = [f"Wld(df = {reg.qe_df}) = {fmt(reg.qe, digits)}, p-val = "
               f"{fmt_p(reg.qe_pval, digits)}",
               f"LRT(df = {reg.qe_df}) = {fmt(reg.extra['q_lrt'], digits)}, p-val = "
               f"{fmt_p(reg.extra['q_lrt_pval'], digits)}"]
    else:
        het = [f"QE(df = {reg.qe_df}) = {fmt(reg.qe, digits)}, p-val = "
               f"{fmt_p(reg.qe_pval, digits)}"]
    lines += ["", "Test for Residual Heterogeneity:", *het, "",
              f"Test of Moderators ({coefs}):", moderator_test_line(reg, digits), "",
              "Model Results:", "", display_frame(reg.coefficients, digits, scaled=())
              .to_string(index=False)]
    if reg.warnings:
        lines += ["", "Notes:"] + [f"  - {w}" for w in reg.warnings]
    return "\n".join(lines)


def regression_html(reg) -> str:
    head = (f"<p><b>{'Fixed' if reg.method == 'FE' else 'Mixed'}-effects meta-regression</b> "
            f"(k = {reg.k}; {html.escape(reg.method)}; test {html.escape(reg.test)}): "
            f"residual τ² = {fmt(reg.tau2)}, I² = {fmt_pct(reg.i2)}, "
            f"R² = {fmt_pct(reg.r2) if reg.r2 is not None else 'NA'}<br>"
            f"Moderators: {html.escape(moderator_test_line(reg))}<br>"
            f"Residual heterogeneity: QE({reg.qe_df}) = {fmt(reg.qe)}, "
            f"p = {fmt_p(reg.qe_pval)}</p>")
    table = display_frame(reg.coefficients, 4, scaled=()).to_html(index=False)
    return f"<div>{head}{table}{cautions_html(reg.warnings)}</div>"


def subgroup_summary(sub, digits=4, pscale=1.0) -> str:
    ps = check_pscale(sub.overall, pscale)
    frame = sub.to_frame()
    cols = ["group", "k", "estimate", "ci_low", "ci_high", "tau2", "i2", "q", "q_pval"]
    lines = [f"Subgroup analysis by {sub.by_name} ({len(sub.groups)} groups, k = "
             f"{sub.overall.k}; {sub.overall.method_name}; measure {sub.overall.measure}; "
             f"reporting scale: {scale_label(sub.overall.scale, ps)})", "",
             _table(frame[cols], digits, ps), "",
             "Test for subgroup differences:"]
    for name, t in (("separate tau^2 (between-group Q, as meta)", sub.test_separate),
                    ("common tau^2 (mixed-effects model, Q_M as metafor)", sub.test_common)):
        mark = "  <- q_between" if t is sub.test_chosen else ""
        lines.append(f"  {name}: {t.describe(digits)}{mark}")
    if sub.notes:
        lines += ["", "Notes:"] + [f"  - {n}" for n in sub.notes]
    return "\n".join(lines)


def subgroup_html(sub, pscale=1.0) -> str:
    ps = check_pscale(sub.overall, pscale)
    frame = display_frame(sub.to_frame(), html_digits(ps), ps).replace("NA", "")
    table = frame.to_html(index=False)
    tests = "".join(
        f"<li>{html.escape(label)}: {html.escape(t.describe())}"
        f"{' <b>(reported)</b>' if t is sub.test_chosen else ''}</li>"
        for label, t in (("Separate τ²", sub.test_separate), ("Common τ²", sub.test_common)))
    return (f"<div><p><b>Subgroups by {html.escape(sub.by_name)}</b> (reporting scale: "
            f"{html.escape(scale_label(sub.overall.scale, ps))})</p>{table}"
            f"<p>Test for subgroup differences</p><ul>{tests}</ul>"
            f"{cautions_html(sub.warnings)}</div>")
