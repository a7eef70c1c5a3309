"""A small study table the report has never seen, for the HTML/Word tests: a user vocabulary
(modalities histotripsy and PEI, site pancreas, a user outcome), ``<script>`` injected in a
study_id (shown as the study's label: the row has no author), in a subgroup, in notes and in
the note of ``review_vs_primary.csv``, and a label with ``&`` and quotes."""

from __future__ import annotations

import warnings
from pathlib import Path

#: set by any injected script that runs: the browser test checks it stays undefined
INJECTED = "<script>window.iometaPwned=1</script>2021"
INJECTED_NOTE = "<script>window.iometaPwned=3</script> check the denominator"

VOCAB = """\
modalities = ["histotripsy", "PEI"]
sites = ["pancreas"]
primaries = ["pancreatic"]
sources = ["ortiz_review2025"]
[outcomes]
technical_efficacy = "proportion"
"""

TABLE = f"""\
study_id,author,year,modality,site,primary,outcome,events,total,value,source,ref_no,notes,subgroup
{INJECTED},,2021,histotripsy,liver,HCC,technical_efficacy,18,20,,ortiz_review2025,1,<script>window.iometaPwned=2</script>,
lee2022,Lee & \"Kim\",2022,histotripsy,liver,HCC,technical_efficacy,27,30,,ortiz_review2025,2,fine,
park2023,Park,2023,PEI,liver,HCC,technical_efficacy,40,50,,ortiz_review2025,3,,
kim2023,Kim,2023,PEI,pancreas,pancreatic,technical_efficacy,12,20,,ortiz_review2025,4,,
nam2022,Nam,2022,PEI,liver,HCC,technical_efficacy,9,15,,ortiz_review2025,6,,<img src=x onerror=window.iometaPwned=4>
chen2020,Chen,2020,PEI,liver,HCC,median_os,,,14.5,ortiz_review2025,5,"<script>alert(""x"")</script>",
"""

COMPARISON = f"""\
study_id,outcome,timepoint_months,flag,review_value,primary_value,note
lee2022,technical_efficacy,,value,0.9,0.85,"{INJECTED_NOTE}"
park2023,technical_efficacy,,agree,0.8,0.8,
"""


def write_unseen(folder: Path) -> Path:
    """Write the table, its ``iometa.toml`` and ``review_vs_primary.csv``; return the table."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "iometa.toml").write_text(VOCAB, encoding="utf-8")
    (folder / "review_vs_primary.csv").write_text(COMPARISON, encoding="utf-8")
    table = folder / "review.csv"
    table.write_text(TABLE, encoding="utf-8")
    return table


def build_unseen(folder: Path, out: Path) -> Path:
    """The report of the unseen table (its study_id warning silenced); returns ``out``."""
    from iometa.report import build_report

    table = write_unseen(folder)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the injected study_id breaks the naming rule
        return build_report(data=table, out=out, verbose=False)
