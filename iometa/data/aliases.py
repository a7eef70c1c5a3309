"""Suggestions that do not mislead: full names and abbreviations of codes and columns.

The loader refuses a code it does not know and says what was probably meant. Spelling
similarity alone misleads on short codes and on names (``CRC`` looks like ``HCC``;
``microwave ablation`` looks like ``cryoablation``), so names and abbreviations that clinicians
write are mapped to their codes here first; similarity is the fallback, and for values of
four characters or fewer it must be very close. Keys are compared folded: lower case, with
everything but letters and digits removed (``Y-90`` = ``y90``, ``Study ID`` = ``studyid``).

Example
-------
>>> suggest("primary", "CRC", ("breast", "HCC", "colorectal"))
['colorectal']
>>> suggest("modality", "microwave ablation", ("RFA", "MWA", "cryoablation"))
['MWA']
>>> suggest("outcome", "OS", ("median_os", "os_rate", "median_pfs"))
['median_os', 'os_rate']
>>> column_hint("Study ID", ("study_id", "modality"))
['study_id']
>>> column_hint("N", ("study_id", "total", "n_patients"))
['total', 'n_patients']
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

__all__ = ["fold", "suggest", "column_hint", "CODE_ALIASES", "COLUMN_ALIASES"]


def fold(text: str) -> str:
    """Lower case, letters and digits only: the key names and aliases are compared by."""
    return re.sub(r"[^0-9a-z]", "", str(text).casefold())


def _table(pairs: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """{code(s): names} written naturally -> {folded name: codes}."""
    out: dict[str, tuple[str, ...]] = {}
    for codes, names in pairs.items():
        for name in names:
            out[fold(name)] = tuple(codes.split("|"))
    return out


#: column -> {folded name or abbreviation: the code(s) it means}
CODE_ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "modality": _table({
        "MWA": ("microwave ablation", "microwave", "microwave thermal ablation", "MWA", "MW"),
        "RFA": ("radiofrequency ablation", "radio-frequency ablation", "radiofrequency", "RF",
                "RFTA", "radiofrequency thermal ablation"),
        "cryoablation": ("cryo", "cryotherapy", "cryosurgery", "percutaneous cryoablation",
                         "CA"),
        "laser": ("laser ablation", "LITT", "laser interstitial thermal therapy", "LA",
                  "laser-induced thermotherapy", "LITT laser"),
        "IRE": ("irreversible electroporation", "electroporation", "NanoKnife"),
        "HIFU": ("high-intensity focused ultrasound", "high intensity focused ultrasound",
                 "focused ultrasound", "FUS", "MRgFUS"),
        "TACE": ("chemoembolization", "chemoembolisation", "transarterial chemoembolization",
                 "transarterial chemoembolisation", "cTACE", "conventional TACE", "cTACE lipiodol",
                 "TACE conventional"),
        "DEB-TACE": ("DEB TACE", "DEBTACE", "drug-eluting bead TACE", "drug eluting beads",
                     "DEB", "DEM-TACE", "drug-eluting bead chemoembolization"),
        "TARE": ("radioembolization", "radioembolisation", "transarterial radioembolization",
                 "SIRT", "selective internal radiation therapy", "selective internal radiotherapy",
                 "Y-90", "Y90", "yttrium-90", "yttrium 90", "90Y", "Y-90 radioembolization"),
        "TAE": ("bland embolization", "bland embolisation", "transarterial embolization",
                "transarterial embolisation", "embolization", "embolisation"),
        "HAI": ("hepatic arterial infusion", "hepatic artery infusion", "HAIC",
                "hepatic arterial infusion chemotherapy"),
        "vertebroplasty": ("PVP", "percutaneous vertebroplasty"),
        "kyphoplasty": ("balloon kyphoplasty", "BKP", "PKP"),
        "cementoplasty": ("percutaneous cementoplasty", "osteoplasty", "bone cement"),
    }),
    "primary": _table({
        "HCC": ("hepatocellular carcinoma", "hepatocellular", "hepatoma", "HCC"),
        "colorectal": ("colorectal cancer", "colorectal carcinoma", "CRC", "mCRC", "colon",
                       "colon cancer", "rectal cancer", "rectum", "CRLM",
                       "colorectal liver metastases", "colorectal metastases"),
        "breast": ("breast cancer", "breast carcinoma", "mammary"),
        "lung": ("lung cancer", "NSCLC", "non-small cell lung cancer", "SCLC",
                 "non small cell lung cancer", "bronchial carcinoma"),
        "kidney": ("renal cell carcinoma", "RCC", "renal", "renal cancer", "kidney cancer"),
        "prostate": ("prostate cancer", "prostatic", "PCa"),
        "melanoma": ("uveal melanoma", "ocular melanoma", "cutaneous melanoma"),
    }),
    "site": _table({
        "liver": ("hepatic", "liver metastases", "hepar"),
        "lung": ("pulmonary", "lung metastases", "thoracic"),
        "kidney": ("renal", "kidneys"),
        "bone": ("osseous", "skeletal", "bone metastases", "bones"),
        "spine": ("vertebral", "vertebra", "vertebrae", "spinal", "vertebral body"),
        "adrenal": ("adrenal gland", "adrenals", "suprarenal"),
        "soft_tissue": ("soft tissue", "soft-tissue", "muscle"),
        "breast": ("mammary",),
        "prostate": ("prostatic",),
    }),
    "outcome": _table({
        "median_os|os_rate": ("OS", "overall survival", "survival"),
        "median_pfs|pfs_rate": ("PFS", "progression-free survival", "progression free survival"),
        "median_dfs": ("DFS", "disease-free survival", "disease free survival"),
        "local_progression": ("LTP", "local tumor progression", "local tumour progression",
                              "local recurrence", "LP", "local progression rate"),
        "local_control": ("LC", "local tumor control", "local tumour control"),
        "objective_response": ("ORR", "objective response rate", "overall response",
                               "response rate"),
        "disease_control": ("DCR", "disease control rate"),
        "complete_response": ("CR", "complete response rate"),
        "partial_response": ("PR",),
        "stable_disease": ("SD",),
        "progressive_disease": ("PD", "progression"),
        "technical_success": ("technical success rate", "TS"),
        "complete_ablation": ("technique effectiveness", "complete necrosis", "CA rate"),
        "major_complication": ("major complications", "major AE", "SIR major"),
        "minor_complication": ("minor complications",),
        "complication": ("complications", "complication rate"),
        "severe_adverse_event": ("grade 3", "grade >=3", "grade 3-4", "severe AE", "SAE"),
        "adverse_event": ("AE", "adverse events", "toxicity"),
        "time_to_local_progression": ("TTLP", "time to local tumor progression", "TTP"),
        "pain_relief": ("pain response", "pain reduction"),
    }),
    "source": {},
}

#: folded header label -> the column(s) it probably means
COLUMN_ALIASES: dict[str, tuple[str, ...]] = _table({
    "study_id": ("study", "id", "study name", "studyid", "study identifier", "trial"),
    "author": ("first author", "authors", "first_author"),
    "year": ("publication year", "pub year", "year of publication", "yr"),
    "ref_no": ("ref", "reference", "reference number", "ref no", "ref.", "citation"),
    "modality": ("procedure", "treatment", "technique", "intervention", "therapy", "device"),
    "site": ("organ", "location", "target organ", "anatomic site"),
    "primary": ("primary tumour", "primary tumor", "tumour type", "tumor type", "cancer",
                "histology", "tumour", "tumor", "diagnosis"),
    "design": ("study design", "study type", "type of study"),
    "total|n_patients": ("n", "n total", "sample size", "size", "denominator"),
    "n_patients": ("patients", "number of patients", "no of patients", "n pts", "pts",
                   "n patients", "no. patients"),
    "n_lesions": ("lesions", "number of lesions", "tumours", "tumors", "n tumours"),
    "outcome": ("endpoint", "end point", "outcome measure", "measure"),
    "events": ("event", "n events", "number of events", "numerator", "cases"),
    "value": ("estimate", "result", "rate", "proportion", "percentage", "percent", "median",
              "effect", "point estimate"),
    "ci_low": ("lower ci", "ci lower", "lcl", "lower", "ll", "lower limit", "95 ci low",
               "lower 95 ci", "ci lo", "lo"),
    "ci_high": ("upper ci", "ci upper", "ucl", "upper", "ul", "upper limit", "95 ci high",
                "upper 95 ci", "ci hi", "hi"),
    "timepoint_months": ("time point", "timepoint", "months", "time", "follow up",
                         "follow-up", "time point months", "time months", "tp"),
    "notes": ("note", "comment", "comments", "remarks"),
    "quote": ("text", "excerpt", "source text", "citation text"),
    "unit_of_analysis": ("analysis unit", "unit analysed", "counted"),
    "person_time": ("person time", "person-time", "person years", "person-years",
                    "patient years", "patient-years", "exposure", "exposure time"),
    "person_time_unit": ("person time unit", "person-time unit", "exposure unit"),
})


def _similar(value: str, candidates: Sequence[str]) -> list[str]:
    """The closest candidate by spelling, if it is close enough not to mislead."""
    folded = {c.casefold(): c for c in candidates}
    cutoff = 0.75 if len(value) <= 4 else 0.6
    close = difflib.get_close_matches(value.casefold(), list(folded), n=1, cutoff=cutoff)
    return [folded[close[0]]] if close else []


def suggest(column: str | None, value: str, vocab: Sequence[str]) -> list[str]:
    """The code(s) of ``vocab`` that ``value`` probably means (best first; may be empty).

    Order: the same letters and digits (``soft tissue`` -> ``soft_tissue``), a known name or
    abbreviation of the column (:data:`CODE_ALIASES`, also with a plural ``s`` removed), a
    word of the value that is a code or a known name (``MWA ablation``), then spelling
    similarity.
    """
    key = fold(value)
    if not key:
        return []
    same = [c for c in vocab if fold(c) == key]
    if same:
        return same
    aliases = CODE_ALIASES.get(column or "", {})
    for k in (key, key[:-1] if key.endswith("s") else None):
        if k and k in aliases:
            hits = [c for c in aliases[k] if c in vocab]
            if hits:
                return hits
    words = [fold(w) for w in re.split(r"[^0-9A-Za-z]+", value) if w]
    if len(words) > 1:  # one word is a code or a known name: 'MWA ablation', 'TACE with DEB'
        for w in words:
            hits = [c for c in vocab if fold(c) == w] or [
                c for c in aliases.get(w, ()) if c in vocab]
            if hits:
                return hits
    return _similar(value, vocab)


def column_hint(name: str, candidates: Sequence[str]) -> list[str]:
    """Schema columns (of ``candidates``) that a header label probably means.

    Case, spaces and punctuation are ignored (``Study ID`` -> ``study_id``, ``Time point
    (months)`` -> ``timepoint_months``); common labels are mapped by :data:`COLUMN_ALIASES`
    (``N`` -> ``total`` or ``n_patients``); otherwise a close spelling.
    """
    key = fold(name)
    if not key:
        return []
    same = [c for c in candidates if fold(c) == key]
    if same:
        return same
    hits = [c for c in COLUMN_ALIASES.get(key, ()) if c in candidates]
    if hits:
        return hits
    folded = {fold(c): c for c in candidates}
    close = difflib.get_close_matches(key, list(folded), n=1, cutoff=0.8)
    return [folded[close[0]]] if close else []
