"""The vocabulary in force for one table: the built-in codes plus what a review adds.

A review that needs codes the built-in vocabulary (:mod:`iometa.data.vocabulary`) does not
have declares them in a TOML file, found automatically as ``iometa.toml`` beside the table or
given explicitly (``load_studies(path, vocabulary=...)``, ``iometa validate FILE --vocabulary
VOCAB.toml``). The format (the contract of issue 20)::

    modalities = ["histotripsy", "PEI", "SBRT"]
    sites = ["pancreas"]
    primaries = ["pancreatic"]
    sources = ["ortiz_review2025"]
    [outcomes]
    technical_efficacy = "proportion"   # a kind of OUTCOME_KINDS
    median_rfs = "duration"
    [modality_family]
    histotripsy = "ablation"            # family names are free

A :class:`Vocabulary` is an immutable value passed explicitly through validation (and kept
in the validated frame's ``attrs['vocabulary']``, where :func:`outcome_rows` and
:func:`select` find it): nothing is stored in module globals, so a table loaded with a review's
vocabulary never changes what the next table without one accepts.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from . import vocabulary as _voc
from .errors import Problem, StudyTableError
from .schema import _CATEGORICAL

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["Vocabulary", "VocabularyError", "read_vocabulary", "vocabulary_of", "VOCABULARY_FILE"]

#: The name of the vocabulary file looked for beside a study table.
VOCABULARY_FILE = "iometa.toml"

#: TOML list key -> the column whose codes it adds. A later column (e.g. ``source_kind``)
#: becomes declarable by one entry here and its built-in list in :mod:`.vocabulary`.
LIST_KEYS: dict[str, str] = {
    "modalities": "modality",
    "sites": "site",
    "primaries": "primary",
    "sources": "source",
}
#: TOML tables: outcome code -> kind, modality -> family.
TABLE_KEYS: tuple[str, ...] = ("outcomes", "modality_family")
#: categorical column -> name of its built-in list in :mod:`.vocabulary`
_BUILTIN_LISTS: dict[str, str] = {**_CATEGORICAL, "source": "SOURCES"}
#: a code: a letter or digit, then letters, digits and _ + - . (no spaces)
_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_+\-.]*$")


class VocabularyError(StudyTableError):
    """A vocabulary file (or mapping) that cannot be used; every problem names file and key."""


@dataclass(frozen=True)
class Vocabulary:
    """The allowed codes of every categorical column, the outcome kinds, the modality families.

    Build one with :meth:`builtin`, :func:`read_vocabulary` (a TOML file) or
    :meth:`from_mapping` (a dict of the file's shape). Immutable.

    Example
    -------
    >>> v = Vocabulary.from_mapping({"modalities": ["histotripsy"],
    ...                              "outcomes": {"median_rfs": "duration"},
    ...                              "modality_family": {"histotripsy": "ablation"}})
    >>> v.allowed("modality")[-1], v.kind("median_rfs"), v.family("histotripsy")
    ('histotripsy', 'duration', 'ablation')
    >>> Vocabulary.builtin().kind("median_rfs") is None   # the built-in one is untouched
    True
    >>> print(v.describe())
    vocabulary (given as a mapping): adds 1 modality (histotripsy), 1 outcome (median_rfs), 1 family (histotripsy)
    """

    codes: Mapping[str, tuple[str, ...]]
    outcomes: Mapping[str, str]
    modality_family: Mapping[str, str]
    added: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    file: str | None = None

    def __post_init__(self) -> None:
        for name in ("codes", "outcomes", "modality_family", "added"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))

    def __deepcopy__(self, memo: dict) -> Vocabulary:  # immutable: pandas copies attrs often
        return self

    def __reduce__(self):
        return (
            Vocabulary,
            (dict(self.codes), dict(self.outcomes), dict(self.modality_family),
             dict(self.added), self.file),
        )

    @classmethod
    def builtin(cls) -> Vocabulary:
        """The built-in vocabulary, read from :mod:`iometa.data.vocabulary` now."""
        codes = {
            col: tuple(dict.fromkeys(getattr(_voc, name))) for col, name in _BUILTIN_LISTS.items()
        }
        return cls(codes, dict(_voc.OUTCOMES), dict(_voc.MODALITY_FAMILY))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, file: str | None = None) -> Vocabulary:
        """The built-in vocabulary plus the codes of ``data`` (the TOML file's shape).

        Raises :class:`VocabularyError` naming ``file`` and the key of every problem.
        """
        return _from_mapping(data, file)

    def allowed(self, column: str) -> tuple[str, ...]:
        """The allowed codes of a categorical column (built-in first, then the review's)."""
        return self.codes[column]

    def kind(self, outcome: str | None) -> str | None:
        """The kind of an outcome code ('proportion', 'duration', 'score'); None if unknown."""
        return None if outcome is None else self.outcomes.get(outcome)

    def family(self, modality: str) -> str | None:
        """The family of a modality (None when the vocabulary gives none)."""
        return self.modality_family.get(modality)

    @property
    def is_builtin(self) -> bool:
        return not any(self.added.values())

    def describe(self) -> str:
        """One line saying which vocabulary this is (printed by ``iometa validate``)."""
        where = (f"vocabulary {self.file}" if self.file is not None
                 else "vocabulary (given as a mapping)")
        parts = []
        for key, words in _ADDED_WORDS.items():
            codes = self.added.get(key, ())
            if codes:
                noun = words[0] if len(codes) == 1 else words[1]
                parts.append(f"{len(codes)} {noun} ({', '.join(codes)})")
        if not parts:
            return "built-in vocabulary" if self.file is None else f"{where}: adds nothing"
        return f"{where}: adds " + ", ".join(parts)


_ADDED_WORDS = {
    "modality": ("modality", "modalities"),
    "site": ("site", "sites"),
    "primary": ("primary", "primaries"),
    "source": ("source", "sources"),
    "outcome": ("outcome", "outcomes"),
    "modality_family": ("family", "families"),
}


def _from_mapping(data: Any, file: str | None) -> Vocabulary:
    base = Vocabulary.builtin()
    where = file if file is not None else "vocabulary"
    problems: list[Problem] = []

    def bad(key: str, value: Any, message: str) -> None:
        shown = None if value is None else str(value)
        problems.append(Problem(where, None, None, shown, f"key '{key}': {message}"))

    if not isinstance(data, Mapping):
        raise TypeError(
            f"vocabulary must be a path to a TOML file, a mapping or a Vocabulary, "
            f"not {type(data).__name__}")
    known = [*LIST_KEYS, *TABLE_KEYS]
    for key in data:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else f"known keys: {', '.join(known)}"
            bad(str(key), None, f"unknown key; {hint}")
    codes = dict(base.codes)
    added: dict[str, tuple[str, ...]] = {}
    for key, column in LIST_KEYS.items():
        if key not in data:
            continue
        items = data[key]
        if isinstance(items, str) or not isinstance(items, (list, tuple)):
            bad(key, None, f"expected a list of codes, e.g. {key} = [\"code1\", \"code2\"]")
            continue
        new = _new_codes(key, column, items, base.codes[column], bad)
        codes[column] = base.codes[column] + new
        added[column] = new
    outcomes = dict(base.outcomes)
    if "outcomes" in data:
        new_outcomes = _outcome_table(data["outcomes"], base.outcomes, bad)
        outcomes.update(new_outcomes)
        codes["outcome"] = tuple(outcomes)
        added["outcome"] = tuple(new_outcomes)
    families = dict(base.modality_family)
    if "modality_family" in data:
        new_families = _family_table(data["modality_family"], codes["modality"], families, bad)
        families.update(new_families)
        added["modality_family"] = tuple(new_families)
    if problems:
        raise VocabularyError(problems, path=where)
    return Vocabulary(codes, outcomes, families, added, file)


def _check_code(key: str, code: Any, bad) -> bool:
    if not isinstance(code, str):
        bad(key, code, f"a code must be text in double quotes, not {type(code).__name__}")
        return False
    if not _CODE_RE.match(code):
        bad(key, code, "a code must start with a letter or digit and hold only letters, digits "
                       "and _ + - . (no spaces: write 'soft_tissue', not 'soft tissue')")
        return False
    return True


def _collision(code: str, builtin: tuple[str, ...]) -> str | None:
    folded = code.casefold()
    return next((b for b in builtin if b.casefold() == folded), None)


def _new_codes(key: str, column: str, items, builtin: tuple[str, ...], bad) -> tuple[str, ...]:
    new: dict[str, str] = {}  # casefolded -> code
    what = "outcome" if column == "outcome" else column
    for code in items:
        if not _check_code(key, code, bad):
            continue
        clash = _collision(code, builtin)
        if clash is not None:
            bad(key, code, f"'{code}' is already a built-in {what} ('{clash}'): remove it from "
                           "the vocabulary (only new codes are declared)")
        elif code.casefold() in new:
            bad(key, code, f"'{code}' is listed twice (codes are matched ignoring case)")
        else:
            new[code.casefold()] = code
    return tuple(new.values())


def _outcome_table(table: Any, builtin: Mapping[str, str], bad) -> dict[str, str]:
    kinds = tuple(_voc.OUTCOME_KINDS)
    if not isinstance(table, Mapping):
        bad("outcomes", None, "expected a table: [outcomes] then lines such as "
                              'median_rfs = "duration"')
        return {}
    out: dict[str, str] = {}
    for code, kind in table.items():
        key = f"outcomes.{code}"
        if not _check_code(key, code, bad):
            continue
        clash = _collision(code, tuple(builtin))
        if clash is not None:
            bad(key, None, f"'{code}' is already a built-in outcome ('{clash}', a "
                           f"{builtin[clash]}): remove it from the vocabulary")
        elif code.casefold() in {c.casefold() for c in out}:
            bad(key, None, f"'{code}' is declared twice (codes are matched ignoring case)")
        elif kind not in kinds:
            bad(key, kind, f"unknown outcome kind; kinds: {', '.join(kinds)}")
        else:
            out[code] = kind
    return out


def _family_table(table: Any, modalities: tuple[str, ...], families: dict, bad) -> dict:
    if not isinstance(table, Mapping):
        bad("modality_family", None, "expected a table: [modality_family] then lines such as "
                                     'histotripsy = "ablation"')
        return {}
    out: dict[str, str] = {}
    for modality, family in table.items():
        key = f"modality_family.{modality}"
        canon = next((m for m in modalities if m.casefold() == str(modality).casefold()), None)
        if canon is None:
            close = difflib.get_close_matches(str(modality), list(modalities), n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            bad(key, None, f"'{modality}' is not a modality (declare it in `modalities` "
                           f"first){hint}")
        elif not isinstance(family, str) or not family.strip():
            bad(key, family, "a family is a non-empty name in double quotes, e.g. \"ablation\"")
        elif canon in families and families[canon] != family:
            bad(key, family, f"'{canon}' is a built-in modality of family "
                             f"'{families[canon]}', which a vocabulary cannot change")
        elif canon not in families:
            out[canon] = family.strip()
    return out


def read_vocabulary(path: str | os.PathLike) -> Vocabulary:
    """Read a vocabulary TOML file (see the module docstring for its format).

    Raises :class:`VocabularyError` naming the file (and the line of a TOML syntax error, or
    the key of a wrong entry).

    Example
    -------
    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "iometa.toml"
    >>> _ = f.write_text('modalities = ["RFA"]\\n')
    >>> try:
    ...     read_vocabulary(f)
    ... except VocabularyError as exc:
    ...     print(str(exc).splitlines()[1].split(": ", 1)[1])
    'RFA' — key 'modalities': 'RFA' is already a built-in modality ('RFA'): remove it from the vocabulary (only new codes are declared)
    """
    p = Path(path)
    where = str(path)
    try:
        text = p.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise VocabularyError([Problem(where, None, None, None,
                                       f"vocabulary file not found: {p.resolve()}")],
                              path=where) from None
    except (OSError, UnicodeDecodeError) as exc:
        why = "it is not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else str(exc)
        raise VocabularyError([Problem(where, None, None, None,
                                       f"the vocabulary file cannot be read ({why})")],
                              path=where) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        line = int(m.group(1)) if m else None
        raise VocabularyError([Problem(where, line, None, None,
                                       f"not a valid TOML file: {exc}")], path=where) from None
    return _from_mapping(data, where)


def resolve_vocabulary(vocabulary: Any, table: str | os.PathLike | None = None) -> Vocabulary:
    """The vocabulary to use: a :class:`Vocabulary`, a TOML path, a mapping, or None (the
    ``iometa.toml`` beside ``table`` if there is one, else the built-in vocabulary)."""
    if isinstance(vocabulary, Vocabulary):
        return vocabulary
    if isinstance(vocabulary, Mapping):
        return _from_mapping(vocabulary, None)
    if isinstance(vocabulary, (str, os.PathLike)):
        return read_vocabulary(vocabulary)
    if vocabulary is not None:
        raise TypeError(
            f"vocabulary must be a path to a TOML file, a mapping or a Vocabulary, "
            f"not {type(vocabulary).__name__}")
    if table is not None:
        beside = Path(table).parent / VOCABULARY_FILE
        if beside.is_file():
            return read_vocabulary(beside)
    return Vocabulary.builtin()


def vocabulary_of(df: Any) -> Vocabulary:
    """The vocabulary a validated frame was checked with (built-in if it carries none)."""
    v = getattr(df, "attrs", {}).get("vocabulary")
    return v if isinstance(v, Vocabulary) else Vocabulary.builtin()
