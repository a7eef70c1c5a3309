"""Text and HTML renderings of results (no statistics here)."""

from __future__ import annotations

import html
import math

from .._warnings import warning_sentence
from .estimators import REGISTRY

#: the style of the "Cautions" box of the results' HTML display (inline: no stylesheet needed)
CAUTIONS_STYLE = ("border-left: 4px solid #c98a00; background: #fff7e0; color: #3d2f00; "
                  "padding: 0.3em 0.8em; margin: 0.5em 0; font-size: 0.92em")


def fmt(x, digits=4) -> str:
    """Format a number for display; ``nan`` becomes "NA", infinities "inf"."""
    if x is None:
        return "NA"
    try:
        xf = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isnan(xf):
        return "NA"
    if math.isinf(xf):
        return "inf" if xf > 0 else "-inf"
    return f"{xf:.{digits}f}"


def fmt_count(x) -> str:
    """Format a count (k, n, events, patients) as an integer; ``nan`` becomes "NA"."""
    try:
        xf = float(x)
    except (TypeError, ValueError):
        return "NA" if x is None else str(x)
    if not math.isfinite(xf):
        return "NA"
    return f"{xf:.0f}" if abs(xf - round(xf)) < 1e-9 else fmt(xf, 2)


def fmt_pct(x, digits=1) -> str:
    """Format a percentage (I², R², weights) with ``digits`` decimals and a % sign:
    ``29.4216`` -> ``"29.4%"``; ``nan`` becomes "NA"."""
    out = fmt(x, digits)
    return out if out in ("NA", "inf", "-inf") else out + "%"


#: columns of the display tables that hold counts (shown as integers) and percentages
COUNT_COLUMNS = frozenset({"k", "n", "n_total", "events", "events_total", "q_df", "k0",
                           "n_clusters", "n_perm", "patients", "deaths"})
PERCENT_COLUMNS = frozenset({"i2", "i2_ci_low", "i2_ci_high", "r2", "weight"})
#: the reporting-scale columns that ``pscale`` multiplies
SCALED_COLUMNS = ("estimate", "ci_low", "ci_high", "pi_low", "pi_high")


def check_pscale(res, pscale) -> float:
    """``pscale`` as a positive float; anything but 1 only for proportion-like results
    (proportions and survival rates, as meta's ``pscale``)."""
    try:
        ps = float(pscale)
    except (TypeError, ValueError):
        raise ValueError(f"pscale must be a positive number, got {pscale!r}") from None
    if not (math.isfinite(ps) and ps > 0):
        raise ValueError(f"pscale must be a positive number, got {pscale!r}")
    if ps != 1 and getattr(res, "kind", None) not in ("proportion", "survival_rate"):
        raise ValueError(f"pscale={pscale!r} applies to proportions and survival rates only; "
                         f"this result is on the {getattr(res, 'scale', 'model')!r} scale")
    return ps


def scale_label(scale: str, pscale: float) -> str:
    """The reporting-scale name after ``pscale``: "percent" for 100, "proportion × 1000"."""
    if pscale == 1:
        return scale
    return "percent" if pscale == 100 else f"{scale} × {pscale:g}"


def display_frame(frame, digits=4, pscale=1.0, scaled=SCALED_COLUMNS):
    """A copy of ``frame`` with every number as display text: counts as integers, I²/R²/weights
    in percent with one decimal, p-values with :func:`fmt_p`, the reporting-scale columns
    ``scaled`` multiplied by ``pscale``, other numbers with ``digits`` decimals.

    Example
    -------
    >>> import pandas as pd
    >>> display_frame(pd.DataFrame({"n_total": [416.0], "i2": [29.4216], "estimate": [0.25]}),
    ...               pscale=100).iloc[0].tolist()
    ['416', '29.4%', '25.0000']
    """
    import pandas as pd

    shown = frame.copy()
    for col in shown.columns:
        name = str(col)
        values = shown[col]
        if not (pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)):
            continue
        if name in COUNT_COLUMNS or pd.api.types.is_integer_dtype(values):
            out = [fmt_count(x) for x in values]
        elif name in PERCENT_COLUMNS:
            out = [fmt_pct(x) for x in values]
        elif name.endswith("pval") or name == "p_holm":
            out = [fmt_p(x, digits) for x in values]
        elif name in scaled:
            out = [fmt(x * pscale, digits) for x in values]
        else:
            out = [fmt(x, digits) for x in values]
        shown[col] = pd.Series(out, index=shown.index, dtype=object)
    return shown


def html_digits(pscale: float, digits: int = 4) -> int:
    """Decimals for an HTML display: ``digits`` less one per power of ten of ``pscale``
    (4 for proportions, 2 for percent)."""
    return max(0, digits - max(0, round(math.log10(pscale))))


def one_line(name: str, tags, estimate=None, ci=None, extra: str = "") -> str:
    """A one-line ``repr``: ``<MetaResult PLO REML k=5: 0.254 [0.181, 0.345]>``."""

    def g(x):
        try:
            xf = float(x)
        except (TypeError, ValueError):
            return "NA"
        return "NA" if math.isnan(xf) else f"{xf:.3g}"

    head = " ".join(str(t) for t in tags if t not in (None, ""))
    body = ""
    if estimate is not None:
        body = f": {g(estimate)}"
        if ci is not None:
            body += f" [{g(ci[0])}, {g(ci[1])}]"
    if extra:
        body += ("; " if body else ": ") + extra
    text = f"<{name} {head}{body}>" if head else f"<{name}{body}>"
    return " ".join(text.split())


def fmt_p(p, digits=4) -> str:
    """Format a p-value: "<.0001" below the display precision."""
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "NA"
    lim = 10.0 ** (-digits)
    return f"<{lim:.{digits}f}".replace("0.", ".") if p < lim else f"{p:.{digits}f}"


def _ci(pair, digits):
    return f"[{fmt(pair[0], digits)}, {fmt(pair[1], digits)}]"


def result_summary(res, digits=4, pscale=1.0) -> str:
    lvl = int(round(res.level * 100))
    d = digits
    ps = check_pscale(res, pscale)
    mh_peto = res.method in ("MH", "Peto")  # common-effect methods without a τ² estimator
    lines = [
        f"{res.method_name[:1].upper()}{res.method_name[1:]} model (k = {res.k}; measure: {res.measure}"
        + (")" if mh_peto else f"; tau^2 estimator: {res.method})"),
        "",
    ]
    if res.method != "FE" and not mh_peto:
        lines += [
            f"tau^2 (estimated amount of total heterogeneity): {fmt(res.tau2, d)} "
            f"(CI {_ci(res.tau2_ci, d)})",
            f"tau (square root of estimated tau^2 value):      {fmt(res.tau, d)}",
        ]
    lines += [
        f"I^2 (total heterogeneity / total variability):   {fmt_pct(res.i2)}"
        + ("" if mh_peto else f" (CI {_ci(res.i2_ci, 1)})"),
        f"H^2 (total variability / sampling variability):  {fmt(res.h2, 2)}",
        "",
        f"Test for Heterogeneity:\nQ(df = {res.q_df}) = {fmt(res.q, d)}, p-val = "
        f"{fmt_p(res.q_pval, d)}",
        "",
        "Model Results (model scale):",
        "",
        f"estimate = {fmt(res.coef, d)}, se = {fmt(res.se, d)}, "
        f"{'t' if res.test == 'knha' else 'z'}val = {fmt(res.stat, d)}"
        + (f" (df = {fmt(res.df, 0)})" if res.df is not None else "")
        + f", pval = {fmt_p(res.pval, d)}, {lvl}% CI [{fmt(res.coef_ci_low, d)}, "
        f"{fmt(res.coef_ci_high, d)}]",
        "",
        f"Pooled estimate on the reporting scale ({scale_label(res.scale, ps)}): "
        f"{fmt(ps * res.estimate, d)} ({lvl}% CI {fmt(ps * res.ci_low, d)} to "
        f"{fmt(ps * res.ci_high, d)}"
        + (")" if mh_peto else
           f"; {lvl}% PI {fmt(ps * res.pi_low, d)} to {fmt(ps * res.pi_high, d)})"),
    ]
    lines += _mh_test_lines(res, d) if mh_peto else inference_lines(res)
    if not res.converged:
        lines += ["", "WARNING: the estimator did not converge (see warnings)."]
    if res.warnings:
        lines += ["", "Warnings:"] + [f"  - {w}" for w in res.warnings]
    return "\n".join(lines)


def _mh_test_lines(res, d) -> list[str]:
    """The Cochran–Mantel–Haenszel and Tarone tests of a Mantel–Haenszel odds-ratio result, as
    metafor's ``print.rma.mh`` (other MH/Peto results: the note that τ² is 0 by the model)."""
    x = res.extra or {}
    out = ["", "tau^2 = 0 by the model (a common-effect method; no tau^2 is estimated)"]
    if x.get("cmh_stat") is not None:
        out += ["", "Cochran-Mantel-Haenszel Test:    "
                f"CMH = {fmt(x['cmh_stat'], d)}, df = 1, p-val = {fmt_p(x['cmh_pval'], d)}",
                f"Tarone's Test for Heterogeneity: X^2 = {fmt(x['tarone_stat'], d)}, "
                f"df = {x['tarone_df']}, p-val = {fmt_p(x['tarone_pval'], d)}"]
    return out


def both_models(re, fe, digits=4, pscale=1.0) -> str:
    """The common-effect and random-effects estimates in one table (reporting scale), with
    the prediction interval, as meta's ``print.meta``."""
    lvl = int(round(re.level * 100))
    d = digits
    ps = check_pscale(re, pscale)

    def row(name, r):
        stat = "t" if r.test == "knha" else "z"
        return (f"{name:<22}{fmt(ps * r.estimate, d):>10}  [{fmt(ps * r.ci_low, d)}; "
                f"{fmt(ps * r.ci_high, d)}]  {stat} = {fmt(r.stat, 2)}  p = {fmt_p(r.pval, d)}")

    return "\n".join([
        f"Number of studies: k = {re.k} (reporting scale: {scale_label(re.scale, ps)})",
        "",
        f"{'':<22}{'estimate':>10}  {lvl}% CI",
        row("Common effect model", fe),
        row("Random effects model", re),
        f"{'Prediction interval':<22}{'':>10}  [{fmt(ps * re.pi_low, d)}; "
        f"{fmt(ps * re.pi_high, d)}]",
        "",
        f"Heterogeneity: tau^2 = {fmt(re.tau2, d)} ({re.method}); I^2 = {fmt(re.i2, 1)}%; "
        f"Q = {fmt(re.q, 2)} (df = {re.q_df}), p = {fmt_p(re.q_pval, d)}",
    ])


#: how each pi_method forms the prediction interval (for the summaries)
PI_TEXT = {
    "metafor": "metafor's predict.rma (z, or t(k - 1) with the Knapp-Hartung SE under knha)",
    "hts": "HTS: t(k - 2) with the usual SE (Higgins, Thompson & Spiegelhalter 2009)",
    "v": "t(k - 1) with the usual SE (Veroniki et al. 2019)",
    "hk-pr": "HK-PR: Knapp-Hartung SE with t(k - 2) (Partlett & Riley 2017)",
}


def inference_lines(res) -> list[str]:
    """Which CI test and prediction interval a result used (one line each; none for the
    models without a τ² method: GLMM, median of medians)."""
    if res.method not in REGISTRY:
        return []
    if res.test == "knha":
        test = ("Knapp-Hartung t test, ad hoc correction (s^2 floored at 1; metafor's "
                "test='adhoc')" if getattr(res, "adhoc", False) else "Knapp-Hartung t test")
    else:
        test = {"z": "Wald z test"}.get(res.test, res.test)
    pim = getattr(res, "pi_method", "metafor")
    pi = ("none for the common-effect model (the CI is shown)" if res.method == "FE"
          else PI_TEXT.get(pim, pim))
    return ["", f"Test and CI: {test}", f"Prediction interval: {pi}"]


def cautions_html(messages) -> str:
    """The warnings and notes of a result as a small styled "Cautions" box (HTML, every
    message escaped and written as one sentence without absolute paths); "" when there are
    none.

    Example
    -------
    >>> cautions_html(["k = 1: <b>no</b> heterogeneity"]).count("&lt;b&gt;")
    1
    >>> cautions_html([])
    ''
    """
    items = "".join(f"<li>{html.escape(warning_sentence(m))}</li>"
                    for m in dict.fromkeys(messages))
    if not items:
        return ""
    return (f"<div class='iometa-cautions' role='note' style='{CAUTIONS_STYLE}'>"
            f"<b>Cautions</b><ul style='margin: 0.2em 0; padding-left: 1.2em'>{items}</ul>"
            "</div>")


def text_html(summary: str, messages) -> str:
    """A text summary as preformatted HTML followed by the "Cautions" box (its ``note:`` lines
    are moved into the box), for the results whose display is their text summary.

    Example
    -------
    >>> text_html("model\\nnote: k is small", ["k is small"]).count("k is small")
    1
    """
    body = "\n".join(x for x in summary.splitlines() if not x.startswith("note: "))
    return f"<div><pre>{html.escape(body)}</pre>{cautions_html(messages)}</div>"


def result_html(res, pscale=1.0) -> str:
    lvl = int(round(res.level * 100))
    ps = check_pscale(res, pscale)
    d = html_digits(ps)
    rows = [
        ("Model", res.method_name),
        ("Studies (k)", fmt_count(res.k)),
        (f"Estimate [{lvl}% CI] ({scale_label(res.scale, ps)})",
         f"{fmt(ps * res.estimate, d)} [{fmt(ps * res.ci_low, d)}, {fmt(ps * res.ci_high, d)}]"),
        (f"{lvl}% prediction interval", f"[{fmt(ps * res.pi_low, d)}, {fmt(ps * res.pi_high, d)}]"),
        *((line.split(": ", 1)[0], line.split(": ", 1)[1]) for line in inference_lines(res)
          if line),
        ("τ² [CI]", f"{fmt(res.tau2)} {_ci(res.tau2_ci, 4)}"),
        ("I² [CI]", f"{fmt_pct(res.i2)} {_ci(res.i2_ci, 1)}"),
        ("Q (df), p", f"{fmt(res.q, 3)} ({res.q_df}), {fmt_p(res.q_pval)}"),
    ]
    body = "".join(
        f"<tr><th style='text-align:left'>{html.escape(a)}</th><td>{html.escape(b)}</td></tr>"
        for a, b in rows
    )
    warn = cautions_html(res.warnings)
    studies = display_frame(res.studies, d, ps).to_html(index=False)
    return (f"<div><table>{body}</table>{warn}<details><summary>Studies</summary>{studies}"
            "</details></div>")
