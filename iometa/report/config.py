"""The report configuration: which outcomes, which grouping column and which model.

``iometa report --config report.toml`` (or ``build_report(config=...)``) reads a TOML file of
this shape; every key is optional and the defaults are the report of a table without a
configuration::

    title = "Histotripsy vs thermal ablation: pooled outcomes"
    outcomes = ["technical_efficacy", "local_progression"]  # default: every outcome
    group_by = "modality"  # modality | site | primary | any column of the table
    measure = "PLO"        # proportion measure: PLO, PR, PAS, PFT, PLN
    method = "REML"        # a tau^2 estimator of iometa.core.methods.REGISTRY
    test = "z"             # z | knha (Knapp-Hartung t)
    level = 0.95           # confidence level of the intervals

    [outcome.local_progression]  # per-outcome overrides
    method = "PM"
    timepoint = 12               # pool only the rows at 12 months

    [outcome.local_progression_incidence]  # an outcome of kind rate (events per person-time)
    measure = "IRLN"                       # rate measure: IRLN, IR, IRS, IRFT

The file is checked strictly: an unknown key, a value of the wrong type, an unknown measure,
method or test, and (once the study table is loaded, :meth:`ReportConfig.check`) an outcome or
a column the table does not have are errors that name the file and the key, with a
did-you-mean where one is close.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from ..core.measures import MEASURES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["OutcomeOptions", "ReportConfig", "ReportConfigError", "read_report_config",
           "resolve_config", "DEFAULT_TITLE"]

#: the report's title without a configuration
DEFAULT_TITLE = "iometa report"
#: measures a proportion outcome may be pooled with
PROPORTION_MEASURES = tuple(c for c, m in MEASURES.items() if m.family == "proportion")
#: measures a rate outcome (events per person-time) may be pooled with, per outcome
RATE_MEASURES = tuple(c for c, m in MEASURES.items() if m.family == "rate")
TESTS = ("z", "knha")
#: spellings of ``test`` accepted for the Knapp-Hartung test
_TEST_ALIASES = {"z": "z", "knha": "knha", "t": "knha", "hksj": "knha"}
#: columns that name where a row came from or what it measured: never a grouping
_NOT_GROUPS = frozenset({"line", "value", "events", "total", "ci_low", "ci_high", "quote",
                         "notes", "value_reported", "n_patients", "n_lesions",
                         "timepoint_months", "outcome", "study_id"})
#: τ² methods that need weights the study table does not give
_NEEDS_WEIGHTS = frozenset({"GENQ"})
TOP_KEYS = ("title", "outcomes", "group_by", "measure", "method", "test", "level", "outcome")
OUTCOME_KEYS = ("measure", "method", "test", "level", "timepoint")


class ReportConfigError(ValueError):
    """A report configuration that cannot be used: every problem names the file and key."""

    def __init__(self, where: str, problems: list[str]):
        self.where = where
        self.problems = list(problems)
        head = (f"{where}: the report configuration has {len(problems)} problem"
                f"{'' if len(problems) == 1 else 's'}:")
        super().__init__("\n".join([head, *(f"  - {p}" for p in problems)]))


@dataclass(frozen=True)
class OutcomeOptions:
    """The model of one outcome: proportion measure, τ² method, test, level and time point
    (``None``: every time point, one analysis each)."""

    measure: str = "PLO"
    method: str = "REML"
    test: str = "z"
    level: float = 0.95
    timepoint: float | None = None


@dataclass(frozen=True)
class ReportConfig:
    """What the report pools and how (see the module docstring for the TOML format).

    Example
    -------
    >>> cfg = ReportConfig.from_mapping({"method": "PM", "outcome": {"recurrence":
    ...                                  {"test": "knha"}}})
    >>> cfg.options("recurrence").method, cfg.options("recurrence").test
    ('PM', 'knha')
    >>> ReportConfig().is_default
    True
    """

    title: str = DEFAULT_TITLE
    outcomes: tuple[str, ...] | None = None
    group_by: str = "modality"
    measure: str = "PLO"
    method: str = "REML"
    test: str = "z"
    level: float = 0.95
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    where: str = "report configuration"

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], where: str = "report configuration"
                     ) -> ReportConfig:
        """A configuration from a mapping of the TOML file's shape (checked strictly)."""
        return _from_mapping(data, where)

    @property
    def is_default(self) -> bool:
        """True when nothing differs from the report without a configuration."""
        return replace(self, where="report configuration") == ReportConfig()

    def options(self, outcome: str) -> OutcomeOptions:
        """The model of ``outcome``: the top-level choices with its overrides applied."""
        base = {"measure": self.measure, "method": self.method, "test": self.test,
                "level": self.level, "timepoint": None}
        base.update(self.overrides.get(outcome, {}))
        return OutcomeOptions(**base)

    def wants(self, outcome: str) -> bool:
        """True when ``outcome`` is reported (every outcome unless ``outcomes`` lists some)."""
        return self.outcomes is None or outcome in self.outcomes

    @property
    def group_label(self) -> str:
        """The grouping column in words ("modality", "site", "primary tumour", …)."""
        return {"primary": "primary tumour"}.get(self.group_by,
                                                 self.group_by.replace("_", " "))

    def check(self, studies) -> None:
        """Check the configuration against the study table: the outcomes listed (top level
        and ``[outcome.X]``) must occur in it and ``group_by`` must be one of its columns."""
        problems: list[str] = []
        present = sorted({str(o) for o in studies["outcome"]})
        named = [("outcomes", o) for o in (self.outcomes or ())]
        named += [(f"outcome.{o}", o) for o in self.overrides]
        for key, o in named:
            if o not in present:
                problems.append(f"key '{key}': outcome '{o}' is not in the study table"
                                f"{_hint(o, present, 'its outcomes')}")
        from ..data.lexicon import vocabulary_of

        kinds = vocabulary_of(studies).outcomes
        for o, opts in sorted(self.overrides.items()):
            pooled_as_proportion = (kinds.get(o) == "proportion"
                                    and o not in ("os_rate", "pfs_rate"))
            if o in present and kinds.get(o) == "rate" and "measure" in opts:
                if opts["measure"] not in RATE_MEASURES:
                    problems.append(f"key 'outcome.{o}.measure': '{o}' is a rate (events per "
                                    f"person-time): use one of {', '.join(RATE_MEASURES)}")
                opts = {k: v for k, v in opts.items() if k != "measure"}
            elif o in present and "measure" in opts and opts["measure"] in RATE_MEASURES:
                problems.append(f"key 'outcome.{o}.measure': {opts['measure']} is a rate "
                                f"measure, for outcomes of kind rate only ('{o}' is a "
                                f"{kinds.get(o)})")
                opts = {k: v for k, v in opts.items() if k != "measure"}
            for opt in ("measure", "timepoint"):
                if opt in opts and o in present and not pooled_as_proportion:
                    problems.append(
                        f"key 'outcome.{o}.{opt}': applies to proportion outcomes only "
                        f"('{o}' is pooled as "
                        + ("a survival rate, on the cloglog scale at every time point)"
                           if o in ("os_rate", "pfs_rate") else f"a {kinds.get(o)})"))
        columns = [c for c in studies.columns if c not in _NOT_GROUPS]
        if self.group_by not in columns:
            why = ("cannot group the studies" if self.group_by in _NOT_GROUPS else
                   "is not a column of the study table")
            problems.append(f"key 'group_by': '{self.group_by}' {why}"
                            f"{_hint(self.group_by, columns, 'its columns')}")
        elif all(x is None or (not isinstance(x, str) and pd.isna(x)) or not str(x).strip()
                 for x in studies[self.group_by]):
            problems.append(f"key 'group_by': column '{self.group_by}' is empty in every row")
        if problems:
            raise ReportConfigError(self.where, problems)


def _hint(value: str, known, what: str) -> str:
    known = list(known)
    close = difflib.get_close_matches(value, known, n=1, cutoff=0.6)
    if not close:
        folded = {k.casefold(): k for k in known}
        close = [folded[value.casefold()]] if value.casefold() in folded else []
    if close:
        return f"; did you mean '{close[0]}'?"
    shown = ", ".join(known[:12]) + (", …" if len(known) > 12 else "")
    return f" ({what}: {shown})"


def _methods() -> tuple[str, ...]:
    from ..core.methods import REGISTRY

    return tuple(REGISTRY)


def _check_model(key: str, name: str, value: Any, bad, out: dict) -> None:
    """One of measure/method/test/level/timepoint at ``key``; valid values go into ``out``."""
    if name in ("measure", "method", "test"):
        if not isinstance(value, str):
            bad(key, f"must be a string, not {_tname(value)}")
            return
        if name == "measure":
            choices: tuple[str, ...] = PROPORTION_MEASURES + (
                RATE_MEASURES if key.startswith("outcome.") else ())
            v = value.upper()
        elif name == "method":
            choices = _methods()
            v = next((m for m in choices if m.casefold() == value.casefold()), value)
        else:
            choices = TESTS
            v = _TEST_ALIASES.get(value.casefold(), value)
        if v not in choices:
            bad(key, f"unknown {name} '{value}'{_hint(value, choices, 'known')}")
            return
        if v in _NEEDS_WEIGHTS:
            bad(key, f"method '{v}' needs user weights (weights=), which the report does not "
                "have; choose another method (e.g. REML, DL, PM)")
            return
        out[name] = v
    elif name == "level":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            bad(key, f"must be a number between 0 and 1 (e.g. 0.95), not {_tname(value)}")
        elif not 0 < float(value) < 1:
            bad(key, f"must be between 0 and 1 (e.g. 0.95), not {value}")
        else:
            out[name] = float(value)
    elif name == "timepoint":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            bad(key, f"must be a number of months (e.g. 12), not {_tname(value)}")
        elif not (math.isfinite(float(value)) and float(value) >= 0):
            bad(key, f"must be a number of months ≥ 0, not {value}")
        else:
            out[name] = float(value)


def _tname(value: Any) -> str:
    return {str: "a string", bool: "a boolean", int: "an integer", float: "a number",
            list: "a list", dict: "a table"}.get(type(value), type(value).__name__)


def _unknown(key: str, known) -> str:
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    return (f"unknown key; did you mean '{close[0]}'?" if close
            else f"unknown key (known keys: {', '.join(known)})")


def _from_mapping(data: Mapping[str, Any], where: str) -> ReportConfig:
    if not isinstance(data, Mapping):
        raise TypeError(f"config must be a path to a TOML file, a mapping or a ReportConfig, "
                        f"not {type(data).__name__}")
    problems: list[str] = []

    def bad(key: str, message: str) -> None:
        problems.append(f"key '{key}': {message}")

    out: dict[str, Any] = {}
    for key, value in data.items():
        key = str(key)
        if key not in TOP_KEYS:
            bad(key, _unknown(key, TOP_KEYS))
        elif key == "title":
            if not isinstance(value, str) or not value.strip():
                bad(key, "must be a non-empty string"
                    + ("" if isinstance(value, str) else f", not {_tname(value)}"))
            elif "\n" in value:
                bad(key, "must be one line")
            else:
                out["title"] = value.strip()
        elif key == "outcomes":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                bad(key, "must be a list of outcome codes (strings), not "
                    f"{_tname(value)}" + (" with other items" if isinstance(value, list)
                                          else ""))
            elif not value:
                bad(key, "is empty: list at least one outcome, or leave the key out for "
                    "every outcome of the table")
            else:
                dup = sorted({v for v in value if value.count(v) > 1})
                if dup:
                    bad(key, f"lists {', '.join(dup)} twice")
                out["outcomes"] = tuple(value)
        elif key == "group_by":
            if not isinstance(value, str) or not value.strip():
                bad(key, "must be a column name (a string)"
                    + ("" if isinstance(value, str) else f", not {_tname(value)}"))
            else:
                out["group_by"] = value.strip()
        elif key == "outcome":
            if not isinstance(value, Mapping):
                bad(key, "must be a table of per-outcome tables ([outcome.NAME]), not "
                    f"{_tname(value)}")
                continue
            overrides: dict[str, dict[str, Any]] = {}
            for name, opts in value.items():
                k = f"outcome.{name}"
                if not isinstance(opts, Mapping):
                    bad(k, f"must be a table ([outcome.{name}]) of "
                        f"{', '.join(OUTCOME_KEYS)}, not {_tname(opts)}")
                    continue
                these: dict[str, Any] = {}
                for opt, v in opts.items():
                    if opt not in OUTCOME_KEYS:
                        bad(f"{k}.{opt}", _unknown(str(opt), OUTCOME_KEYS))
                    else:
                        _check_model(f"{k}.{opt}", opt, v, bad, these)
                overrides[str(name)] = these
            out["overrides"] = overrides
        else:
            _check_model(key, key, value, bad, out)
    if problems:
        raise ReportConfigError(where, problems)
    return ReportConfig(where=where, **out)


def read_report_config(path: str | os.PathLike) -> ReportConfig:
    """Read and check the report configuration ``path`` (a TOML file).

    Example
    -------
    >>> import pathlib, tempfile
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "report.toml"
    >>> _ = f.write_text('method = "PM"\\ntest = "knha"\\n', encoding="utf-8")
    >>> cfg = read_report_config(f)
    >>> cfg.method, cfg.test, cfg.measure
    ('PM', 'knha', 'PLO')
    """
    p = Path(path)
    where = str(path)
    try:
        text = p.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise ReportConfigError(where, [f"report configuration not found: {p.resolve()}"]
                                ) from None
    except (OSError, UnicodeDecodeError) as exc:
        why = "it is not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else str(exc)
        raise ReportConfigError(where, [f"the file cannot be read ({why})"]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        at = f" (line {m.group(1)})" if m else ""
        raise ReportConfigError(where, [f"not a valid TOML file{at}: {exc}"]) from None
    return _from_mapping(data, where)


def resolve_config(config: Any) -> ReportConfig:
    """A :class:`ReportConfig` from None (the defaults), a path, a mapping or a config."""
    if config is None:
        return ReportConfig()
    if isinstance(config, ReportConfig):
        return config
    if isinstance(config, Mapping):
        return _from_mapping(config, "report configuration")
    if isinstance(config, (str, os.PathLike)):
        return read_report_config(config)
    raise TypeError(f"config must be a path to a TOML file, a mapping or a ReportConfig, "
                    f"not {type(config).__name__}")
