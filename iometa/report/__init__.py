"""The report: ``iometa report`` rebuilds every figure and table of ``reports/`` from a study
table (Markdown, figures as PNG/SVG/PDF), through the public API only.

Example
-------
>>> from iometa.report import build_report
>>> callable(build_report)
True
"""

from __future__ import annotations

from .build import ReportPathError, build_report
from .config import ReportConfig, ReportConfigError, read_report_config

__all__ = ["ReportConfig", "ReportConfigError", "ReportPathError", "build_report",
           "read_report_config"]
