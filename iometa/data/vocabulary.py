"""Controlled vocabularies of the study table.

One place for every allowed value of the categorical columns of ``data/studies.csv``.
The loader (:mod:`iometa.data`), the data dictionary (``data/README.md``) and the report
all read these constants. A review that needs other codes declares them in its own vocabulary
file (``iometa.toml``, see :mod:`iometa.data.lexicon`), never by editing this module.
"""

from __future__ import annotations

#: Procedures. Combinations are written with ``+`` in a fixed order and listed explicitly.
MODALITIES: tuple[str, ...] = (
    "RFA",
    "MWA",
    "cryoablation",
    "laser",
    "IRE",
    "HIFU",
    "thermal_ablation",  # a series mixing RFA/MWA/laser without separate numbers
    "TACE",
    "DEB-TACE",
    "TARE",
    "TAE",
    "HAI",  # hepatic arterial infusion chemotherapy
    "vertebroplasty",
    "kyphoplasty",
    "cementoplasty",
    "RFA+cementoplasty",
    "cryoablation+cementoplasty",
    "TARE+ICI",
    "ablation+ICI",
    "cryoablation+ICI",
    "RFA+ICI",
    "TACE+ICI",
)

#: Families used to group modalities in comparisons (ablation vs transarterial vs consolidation).
MODALITY_FAMILY: dict[str, str] = {
    "RFA": "ablation",
    "MWA": "ablation",
    "cryoablation": "ablation",
    "laser": "ablation",
    "IRE": "ablation",
    "HIFU": "ablation",
    "thermal_ablation": "ablation",
    "TACE": "transarterial",
    "DEB-TACE": "transarterial",
    "TARE": "transarterial",
    "TAE": "transarterial",
    "HAI": "transarterial",
    "vertebroplasty": "consolidation",
    "kyphoplasty": "consolidation",
    "cementoplasty": "consolidation",
    "RFA+cementoplasty": "ablation+consolidation",
    "cryoablation+cementoplasty": "ablation+consolidation",
    "TARE+ICI": "combination_ici",
    "ablation+ICI": "combination_ici",
    "cryoablation+ICI": "combination_ici",
    "RFA+ICI": "combination_ici",
    "TACE+ICI": "combination_ici",
}

SITES: tuple[str, ...] = (
    "liver",
    "lung",
    "adrenal",
    "bone",
    "spine",
    "breast",
    "prostate",
    "kidney",
    "soft_tissue",
    "mixed",
    "other",
)

PRIMARIES: tuple[str, ...] = (
    "breast",
    "HCC",
    "prostate",
    "colorectal",
    "lung",
    "kidney",
    "melanoma",
    "fibroadenoma",
    "mixed",
    "other",
)

DESIGNS: tuple[str, ...] = (
    "retrospective",
    "prospective",
    "RCT",
    "registry",
    "systematic_review",
    "meta_analysis",
    "case_series",
    "unknown",
    "review",  # cited as "a review" by the source, not stated to be systematic
    "guideline",  # a practice guideline / standards document quoted for a rate
)

UNITS_OF_ANALYSIS: tuple[str, ...] = (
    "patients",
    "lesions",
    "sessions",
    "procedures",
    "vertebrae",
    "unknown",
)

SOURCES: tuple[str, ...] = ("filippiadis2022", "newbury2022", "primary")

#: ``source_kind``: ``review`` (read in a review's text; the default) or ``primary`` (read in
#: the cited study's own publication, identified by ``pmid``/``doi`` and a ``locator``).
SOURCE_KINDS: tuple[str, ...] = ("review", "primary")

#: Outcome kinds -> the unit ``value`` must have. A new kind (e.g. ``rate``, events per
#: person-time) is one entry here (and its unit in :data:`UNITS`); the loader, the vocabulary
#: files (``[outcomes]`` of ``iometa.toml``) and :func:`iometa.data.outcome_kind` read this table.
OUTCOME_KINDS: dict[str, str] = {
    "proportion": "proportion",  # stored 0-1
    "duration": "months",
    "score": "points",
    "rate": "per_person_time",  # events per one unit of person-time (person_time_unit)
}

#: Outcome code -> kind (a key of :data:`OUTCOME_KINDS`). ``proportion`` outcomes are stored
#: as 0-1 in ``value``; ``duration`` outcomes in months.
OUTCOMES: dict[str, str] = {
    "median_os": "duration",
    "mean_os": "duration",
    "os_rate": "proportion",
    "median_pfs": "duration",
    "pfs_rate": "proportion",
    "time_to_local_progression": "duration",
    "local_progression": "proportion",
    "local_control": "proportion",
    "complete_ablation": "proportion",
    "technical_success": "proportion",
    "complete_response": "proportion",
    "partial_response": "proportion",
    "stable_disease": "proportion",
    "progressive_disease": "proportion",
    "objective_response": "proportion",
    "disease_control": "proportion",
    "complication": "proportion",
    "major_complication": "proportion",
    "minor_complication": "proportion",
    "pain_relief": "proportion",
    "adverse_event": "proportion",
    "recurrence": "proportion",
    "biopsy_negative": "proportion",
    # added by the study-table extraction (documented in data/README.md)
    "median_dfs": "duration",
    "severe_adverse_event": "proportion",  # CTCAE grade >= 3 toxicity / adverse event
    "treatment_related_death": "proportion",
    "mortality": "proportion",  # all-cause death by a time point
    "no_evidence_of_disease": "proportion",
    "alive_with_disease": "proportion",
    "functional_improvement": "proportion",
    "patient_satisfaction": "proportion",
    "biopsy_positive_clinically_significant": "proportion",
    "biopsy_positive_clinically_insignificant": "proportion",
    # survival proportions whose time point the source does not give (so not "*_rate",
    # which the loader requires to carry timepoint_months)
    "metastasis_free_survival": "proportion",
    "cancer_specific_survival": "proportion",
    "vas_pain_score": "score",  # mean visual analogue pain score (0-10), value in points
    # events per person-time (issue 23): events, person_time and person_time_unit; value (if
    # given) is events per one person_time_unit
    "local_progression_incidence": "rate",
}

#: What ``value`` is: a point estimate, or an end of a printed range / a bound (never pooled).
VALUE_TYPES: tuple[str, ...] = ("estimate", "range_low", "range_high", "upper_bound", "lower_bound")

#: Units allowed in ``unit`` (the unit of ``value``).
UNITS: tuple[str, ...] = ("proportion", "months", "points", "per_person_time")

#: Units of ``person_time`` (the time each patient, or lesion, was followed, summed): with
#: ``unit_of_analysis`` = patients, ``years`` are person-years; with lesions, lesion-years.
PERSON_TIME_UNITS: tuple[str, ...] = ("years", "months", "weeks", "days")

#: ``person_time_unit`` -> years (Julian year of 365.25 days), to pool rows given in
#: different units.
YEARS_PER_UNIT: dict[str, float] = {"years": 1.0, "months": 1.0 / 12.0, "weeks": 7.0 / 365.25,
                                    "days": 1.0 / 365.25}

#: Units allowed in ``unit_reported`` (as printed in the source).
UNITS_REPORTED: tuple[str, ...] = (
    "percent",
    "proportion",
    "count",
    "months",
    "weeks",
    "days",
    "years",
    "points",
)

#: Days per month and weeks-to-months factor used for unit conversions (Julian year / 12).
DAYS_PER_MONTH = 30.4375
WEEKS_TO_MONTHS = 7.0 / DAYS_PER_MONTH
