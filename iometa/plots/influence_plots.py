"""Leave-one-out and cumulative forest plots (:func:`leave_one_out_plot`,
:func:`cumulative_plot`), drawn with the forest plot's layout engine."""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING

import pandas as pd

from .axis import effect_scale
from .forest_draw import Options, render
from .forest_rows import format_estci
from .layout import Column, Row
from .text import fmt_num, fmt_sig

if TYPE_CHECKING:
    from matplotlib.figure import Figure


_NEEDED = ("label", "estimate", "ci_low", "ci_high")


def _table(data, result, fn_name):
    """(DataFrame, result): the table computed by ``iometa.<fn_name>`` (plots never compute)."""
    if hasattr(data, "studies") and hasattr(data, "refit"):
        raise TypeError(f"pass the table of iometa.{fn_name}(res) (and the result as the "
                        f"second argument), not the fitted result alone: plots draw computed "
                        f"tables, they do not compute them")
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"expected the DataFrame of iometa.{fn_name}(res), got "
                        f"{type(data).__name__}")
    missing = [c for c in _NEEDED if c not in data]
    if missing:
        raise ValueError(f"the table lacks column(s) {missing} (expected the output of "
                         f"iometa.{fn_name}())")
    return data, result


def _columns(df, est_header, label_header):
    cols = [Column("label", label_header, "left", "left", wrap=True)]
    if "k" in df:
        cols.append(Column("k", "k", "right"))
    cols.append(Column("estci", est_header, "right", "right"))
    if "i2" in df:
        cols.append(Column("i2", "I²\n(%)", "right", "right"))
    if "tau2" in df:
        cols.append(Column("tau2", "τ²", "right", "right"))
    return cols


def _rows(df, result, scale, prefix, shape):
    est, lo, hi = (scale(df[c].to_numpy(float)) for c in ("estimate", "ci_low", "ci_high"))
    rows = []
    for i in range(len(df)):
        cells = {"label": f"{prefix}{df['label'].iloc[i]}"}
        if "k" in df:
            cells["k"] = f"{int(df['k'].iloc[i])}"
        if "i2" in df:
            cells["i2"] = fmt_num(df["i2"].iloc[i], 0)
        if "tau2" in df:
            cells["tau2"] = fmt_sig(df["tau2"].iloc[i])
        rows.append(Row("study", cells, mark=dict(shape=shape, est=est[i], lo=lo[i], hi=hi[i]),
                        values=(est[i], lo[i], hi[i])))
    if result is not None:
        e, a, b = scale([result.estimate, result.ci_low, result.ci_high])
        cells = {"label": "All studies", "k": f"{result.k}", "i2": fmt_num(result.i2, 0),
                 "tau2": fmt_sig(result.tau2) if not getattr(result, "common_effect", result.method == "FE") else "0"}
        rows.append(Row("spacer", height=0.4))
        rows.append(Row("summary", cells, bold=True, values=(e, a, b),
                        mark=dict(shape="diamond", est=e, lo=a, hi=b)))
    format_estci(rows, scale.digits)
    return rows


def _plot(df, result, fn_name, prefix, label_header, shape, *, ax, width, fontsize, transf,
          digits, xlim, refline, xlabel, footnote):
    df, result = _table(df, result, fn_name)
    described = SimpleNamespace(**{k: df.attrs[k] for k in ("measure", "scale", "kind",
                                                             "level") if k in df.attrs})
    scale = effect_scale(result if result is not None else described, transf, digits, xlabel)
    rows = _rows(df, result, scale, prefix, shape)
    cols = _columns(df, scale.header, label_header)
    core = [v for r in rows for v in (r.values or ())[:1] if v is not None]
    if result is not None:
        core += list(rows[-1].values)
    spread = [v for r in rows for v in (r.values or ())[1:]]
    if refline is not None:
        core.append(float(refline))
    opts = Options(width=width, fontsize=fontsize, xlim=xlim, refline=refline,
                   pooled_line=result is not None, xlabel=xlabel, footnote=footnote)
    return render(rows, [cols], [], scale, opts, ax=ax, core=core, spread=spread)


def leave_one_out_plot(data, result=None, *, ax=None, width="double", fontsize=None,
                       transf=None, digits=None, xlim=None, refline=None, xlabel=None,
                       footnote=None) -> Figure:
    """Forest plot of a leave-one-out analysis: the pooled estimate and CI without each study.

    ``data``: the DataFrame of :func:`iometa.leave_one_out` (columns read: label, estimate,
    ci_low, ci_high on the reporting scale; k, i2, tau2 if present), computed first (a MetaResult alone is refused: plots do not
    compute). ``result`` (the full analysis) adds the "All
    studies" diamond and a dashed line at its estimate, and sets the scale (percent for
    proportions). Other options as :func:`iometa.forest_plot`.

    Reference: Viechtbauer & Cheung 2010 (Res Synth Methods 1:112). metafor:
    ``forest(leave1out(res))``; meta: ``forest(metainf(m))``.

    Example
    -------
    >>> import pandas as pd, iometa
    >>> res = iometa.pool_proportions([13, 4, 9, 20], [51, 30, 40, 60])
    >>> loo = pd.DataFrame({"label": res.labels, "estimate": [0.3, 0.25, 0.28, 0.24],
    ...                     "ci_low": [0.2, 0.18, 0.2, 0.16], "ci_high": [0.4, 0.33, 0.37, 0.35]})
    >>> fig = iometa.leave_one_out_plot(loo, res)
    >>> len(fig.axes)
    1
    """
    return _plot(data, result, "leave_one_out", "", "Omitted study", "point", ax=ax,
                 width=width, fontsize=fontsize, transf=transf, digits=digits, xlim=xlim,
                 refline=refline, xlabel=xlabel, footnote=footnote)


def cumulative_plot(data, result=None, *, ax=None, width="double", fontsize=None,
                    transf=None, digits=None, xlim=None, refline=None, xlabel=None,
                    footnote=None) -> Figure:
    """Forest plot of a cumulative meta-analysis: the pooled estimate as studies are added.

    ``data``: the DataFrame of :func:`iometa.cumulative` (row i = the first i studies in the
    chosen order, labelled by the study added; columns read: label, estimate, ci_low,
    ci_high; k, i2, tau2 if present), computed first (a MetaResult alone is refused).
    ``result`` adds the full-analysis diamond and sets the scale.

    Reference: Lau et al. 1992 (N Engl J Med 327:248). metafor: ``forest(cumul(res))``; meta:
    ``forest(metacum(m))``.

    Example
    -------
    >>> import pandas as pd, iometa
    >>> res = iometa.pool_proportions([13, 4, 9], [51, 30, 40])
    >>> cum = pd.DataFrame({"label": res.labels, "k": [1, 2, 3],
    ...                     "estimate": [0.25, 0.2, 0.21], "ci_low": [0.15, 0.13, 0.15],
    ...                     "ci_high": [0.39, 0.29, 0.29]})
    >>> fig = iometa.cumulative_plot(cum, res)
    >>> bool(fig.get_figwidth() > 7)
    True
    """
    return _plot(data, result, "cumulative", "+ ", "Study added", "point", ax=ax, width=width,
                 fontsize=fontsize, transf=transf, digits=digits, xlim=xlim, refline=refline,
                 xlabel=xlabel, footnote=footnote)


__all__ = ["cumulative_plot", "leave_one_out_plot"]
