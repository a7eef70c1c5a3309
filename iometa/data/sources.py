"""Review rows and primary-source rows: the provenance rules and "primary where both exist".

A row of the study table is read either in a review's text (``source_kind = review``, the
default when the cell is empty) or in the cited study's own publication
(``source_kind = primary``). This module holds the two rules that depend on that:

* :func:`_check_provenance_ids` (a row rule of the loader): ``pmid`` is digits, ``doi``
  starts with ``10.``, ``url`` is http(s); a primary row names its publication (``pmid``,
  ``doi``, or a PubMed Central article address in ``url``, whose PMCID is an NCBI identifier
  as persistent as a PMID) and where in it the number is (``locator``), and its ``quote`` — the text of a
  third-party page — is empty or at most :data:`MAX_PRIMARY_QUOTE_WORDS` words;
* :func:`superseded_review_rows` (applied by :func:`iometa.data.outcome_rows`, so by every
  analysis): where a study has primary rows of an outcome, its review rows of that outcome are
  not pooled — the same patients would be counted twice — and are listed with the reason.
"""

from __future__ import annotations

import re

import pandas as pd

from .columns import _Table

#: The longest ``quote`` a primary row may carry (facts carry over, sentences do not).
MAX_PRIMARY_QUOTE_WORDS = 12
PMID_RULE = re.compile(r"^[0-9]{1,9}$")
DOI_RULE = re.compile(r"^10\.[0-9]{4,9}/\S+$")
URL_RULE = re.compile(r"^https?://\S+$")
#: a PubMed Central article page: its PMCID identifies the publication
PMC_URL_RULE = re.compile(
    r"^https?://(?:pmc\.ncbi\.nlm\.nih\.gov/articles/|www\.ncbi\.nlm\.nih\.gov/pmc/articles/)"
    r"(PMC[0-9]{1,9})/?$")


def pmcid(url: str | None) -> str | None:
    """The PMCID of a PubMed Central article address, else None.

    >>> pmcid("https://pmc.ncbi.nlm.nih.gov/articles/PMC4067493"), pmcid("https://x.org/a")
    ('PMC4067493', None)
    """
    m = PMC_URL_RULE.match(url) if isinstance(url, str) else None
    return m.group(1) if m else None

#: reason given for a review row not pooled because the study's own publication is in the table
SUPERSEDED = ("review figure not pooled: the study's primary publication is in the table for "
              "this outcome (primary where both exist; `--source review` for the review-only "
              "analysis)")


def _check_provenance_ids(t: _Table, i: int) -> None:
    """Identifier formats on every row; identifier, locator and short quote on primary rows."""
    V = t.values
    for col, rule, what in (("pmid", PMID_RULE, "digits only (a PubMed id, e.g. 30200791)"),
                            ("doi", DOI_RULE, "a DOI starting with '10.' (e.g. 10.1148/radiol."
                                              "220.1.r01jl01145)"),
                            ("url", URL_RULE, "an http:// or https:// address")):
        x = V[col][i]
        if x is not None and not rule.match(x):
            t.add(i, col, x, f"{col} must be {what}")
    if V["source_kind"][i] != "primary":
        return
    if V["pmid"][i] is None and V["doi"][i] is None and pmcid(V["url"][i]) is None:
        t.add(i, "pmid", None, "empty: a primary row needs its publication's pmid or doi (or "
              "a PubMed Central article url, https://pmc.ncbi.nlm.nih.gov/articles/PMC...)")
    if V["locator"][i] is None:
        t.add(i, "locator", None,
              "empty: a primary row needs a locator (where in the publication, e.g. "
              "'abstract, results')")
    quote = V["quote"][i]
    if quote is not None and len(quote.split()) > MAX_PRIMARY_QUOTE_WORDS:
        t.add(i, "quote", t.shown("quote", i),
              f"a primary row's quote must be empty or at most {MAX_PRIMARY_QUOTE_WORDS} words "
              "(the identifier and locator are its provenance; never paste third-party text)")


def source_kind(studies: pd.DataFrame) -> pd.Series:
    """The ``source_kind`` column as strings, ``review`` where it is empty or absent."""
    if "source_kind" not in studies:
        return pd.Series("review", index=studies.index, dtype="string")
    return studies["source_kind"].astype("string").fillna("review")


def superseded_review_rows(rows: pd.DataFrame) -> pd.Index:
    """Index of the review rows of ``rows`` (one outcome) whose study also has primary rows.

    ``rows`` are the rows of one outcome *before* any filter on modality, site etc., so that a
    review row the review attributes to another modality (a wrong citation) is superseded too.

    >>> df = pd.DataFrame({"study_id": ["a", "a", "b"],
    ...                    "source_kind": ["review", "primary", "review"]})
    >>> list(superseded_review_rows(df))
    [0]
    """
    kind = source_kind(rows)
    with_primary = set(rows.loc[kind == "primary", "study_id"].astype(str))
    mask = (kind == "review") & rows["study_id"].astype(str).isin(with_primary)
    return rows.index[mask.to_numpy(dtype=bool)]


def only_source(studies: pd.DataFrame, source: str | None) -> pd.DataFrame:
    """The rows of one ``source_kind`` (``"review"``, ``"primary"``), or all rows for None."""
    if source is None:
        return studies
    if source not in ("review", "primary"):
        raise ValueError(f"source must be 'review' or 'primary', not {source!r}")
    out = studies[(source_kind(studies) == source).to_numpy(dtype=bool)]
    out.attrs = dict(studies.attrs)
    return out
