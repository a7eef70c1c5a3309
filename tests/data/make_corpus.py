"""Write the CSV corpus of tests/data/bad and tests/data/good with exact bytes.

Run from anywhere: ``python tests/data/make_corpus.py``. Byte-level details (BOM, CRLF,
non-breaking spaces, cp1252) are written explicitly, so regenerating gives identical files.
Each file's name says the case it covers; tests/test_data.py asserts what each one yields.
"""

from __future__ import annotations

import random
from pathlib import Path

HERE = Path(__file__).resolve().parent

# a user table: only some of the schema's columns (all others are optional)
H = "study_id,author,year,modality,site,outcome,unit_of_analysis,timepoint_months,events,total,value,ci_low,ci_high,unit"  # noqa: E501


def lines(*rows: str, eol: str = "\n") -> bytes:
    return (eol.join(rows) + eol).encode("utf-8")


BAD: dict[str, bytes] = {
    "empty_file.csv": b"",
    "header_only.csv": lines(H),
    "missing_required_columns.csv": lines(
        "study_id,author,year,site,events,total",
        "smith2019,Smith,2019,liver,4,40",
    ),
    "missing_result_columns.csv": lines(
        "study_id,modality,outcome,n_patients",
        "smith2019,RFA,local_progression,40",
    ),
    "missing_required_values.csv": lines(
        H,
        ",Smith,2019,RFA,liver,local_progression,patients,,4,40,,,,proportion",
        "lee2020,Lee,2020,MWA,liver,,patients,,6,52,,,,proportion",
        "kim2021,Kim,2021,MWA,liver,local_control,patients,,,,,,,",
    ),
    "wrong_types.csv": lines(
        H,
        "smith2019,Smith,2019,RFA,liver,local_progression,patients,,twelve,40,,,,proportion",
        "lee2020,Lee,2020,MWA,liver,median_os,patients,,,,12 months,,,months",
        "kim2021,Kim,2021,MWA,liver,local_control,patients,,,,85%,,,proportion",
    ),
    "events_exceed_total.csv": lines(
        H,
        "smith2019,Smith,2019,RFA,liver,local_progression,patients,,4,40,,,,proportion",
        "lee2020,Lee,2020,MWA,liver,local_progression,patients,,52,51,,,,proportion",
    ),
    "negative_n.csv": lines(
        "study_id,modality,outcome,n_patients,events,total",
        "smith2019,RFA,local_progression,-5,-1,40",
    ),
    "zero_n.csv": lines(
        "study_id,modality,outcome,n_patients,events,total",
        "smith2019,RFA,local_progression,0,0,0",
    ),
    "proportion_above_one.csv": lines(
        H,
        "smith2019,Smith,2019,RFA,liver,local_control,patients,,,,120,,,proportion",
        "lee2020,Lee,2020,MWA,liver,local_control,patients,,,,-0.1,,,proportion",
    ),
    "percentage_written_as_85.csv": lines(
        H,
        "smith2019,Smith,2019,RFA,liver,local_control,patients,,,,85,80,90,proportion",
    ),
    "ci_not_containing_estimate.csv": lines(
        H,
        "smith2019,Smith,2019,RFA,liver,local_control,patients,,,,0.5,0.6,0.8,proportion",
        "lee2020,Lee,2020,MWA,liver,local_control,patients,,,,0.8,0.9,0.7,proportion",
        "kim2021,Kim,2021,MWA,liver,median_os,patients,,,,30,12.5,24,months",
    ),
    "unknown_modality.csv": lines(
        H,
        "smith2019,Smith,2019,RFAA,liver,local_progression,patients,,4,40,,,,proportion",
    ),
    "unknown_outcome.csv": lines(
        H,
        "smith2019,Smith,2019,RFA,liver,local_progresion,patients,,4,40,,,,proportion",
    ),
    "duplicate_key_rows.csv": lines(
        H,
        "smith2019,Smith,2019,RFA,liver,os_rate,patients,12,,,0.9,,,proportion",
        "smith2019,Smith,2019,RFA,liver,os_rate,patients,24,,,0.8,,,proportion",
        "lee2020,Lee,2020,MWA,liver,os_rate,patients,12,,,0.85,,,proportion",
        "smith2019,Smith,2019,RFA,liver,os_rate,patients,12,,,0.7,,,proportion",
    ),
    "fully_duplicated_row.csv": lines(
        H,
        "smith2019,Smith,2019,RFA,liver,local_progression,patients,,4,40,,,,proportion",
        "lee2020,Lee,2020,MWA,liver,local_progression,patients,,6,52,,,,proportion",
        "smith2019,Smith,2019,RFA,liver,local_progression,patients,,4,40,,,,proportion",
    ),
    "missing_timepoint_os_rate.csv": lines(
        H,
        "smith2019,Smith,2019,RFA,liver,os_rate,patients,,,,0.9,,,proportion",
        "lee2020,Lee,2020,MWA,liver,pfs_rate,patients,12,,,0.6,,,proportion",
    ),
    "unit_inconsistent_with_outcome.csv": lines(
        H,
        "smith2019,Smith,2019,RFA,liver,median_os,patients,,,,30.5,,,proportion",
        "lee2020,Lee,2020,MWA,liver,local_control,patients,,,,0.9,,,months",
    ),
    "value_events_mismatch.csv": lines(
        H,
        "smith2019,Smith,2019,RFA,liver,local_progression,patients,,13,51,0.30,,,proportion",
        "lee2020,Lee,2020,MWA,liver,local_progression,patients,,13,51,0.25,,,proportion",
    ),
    "ragged_row_unquoted_comma.csv": lines(
        H,
        "smith2019,Smith, J,2019,RFA,liver,local_progression,patients,,4,40,,,,proportion",
        "lee2020,Lee,2020,MWA,liver,local_progression,patients,,6,52,,,,proportion",
    ),
    "unclosed_quote.csv": lines(
        "study_id,modality,outcome,value,quote",
        'smith2019,RFA,local_control,0.9,"complete ablation in 90%',
        "lee2020,MWA,local_control,0.8,ok",
    ),
    "multiple_problems.csv": lines(
        H,
        "smith2019,Smith,2019,RFAA,liver,local_progression,patients,,52,51,,,,proportion",
        "lee2020,Lee,twenty,MWA,liver,local_control,patients,,,,85,,,proportion",
        "kim2021,Kim,2021,MWA,liverr,os_rate,patients,,,,0.9,,,months",
        ",Park,2022,TACE,liver,median_os,patients,,,,not reached,,,months",
    ),
}

# a binary file: NUL bytes and random bytes (deterministic)
_rng = random.Random(20240611)
BAD["binary_garbage.csv"] = bytes(_rng.randrange(256) for _ in range(512)) + b"\x00\x01\x02"
BAD["excel_workbook_saved_as_csv.csv"] = b"PK\x03\x04\x14\x00\x06\x00" + bytes(
    _rng.randrange(256) for _ in range(200)
)

FULL = (
    "study_id,author,author_in_text,year,source,ref_no,modality,site,primary,design,"
    "n_patients,n_lesions,unit_of_analysis,outcome,subgroup,timepoint_months,events,total,"
    "value,ci_low,ci_high,unit,derived,value_reported,unit_reported,lesion_size_cm,quote,notes"
)

GOOD: dict[str, bytes] = {
    "utf8_bom.csv": b"\xef\xbb\xbf"
    + lines(
        "study_id,modality,outcome,events,total",
        "smith2019,RFA,local_progression,4,40",
        "lee2020,MWA,local_progression,6,52",
    ),
    "semicolon_decimal_comma.csv": lines(
        "study_id;author;modality;outcome;value;ci_low;ci_high;unit;lesion_size_cm",
        "smith2019;Müller;RFA;median_os;12,5;10,1;15;months;2,8",
        "lee2020;Lee;MWA;complete_ablation;0,95;0,9;0,98;proportion;3",
        "kim2021;Kim, J;MWA;complete_ablation;0.9;;;proportion;",
    ),
    "windows_line_endings.csv": lines(
        "study_id,modality,outcome,events,total,notes",
        "smith2019,RFA,local_progression,4,40,first",
        "lee2020,MWA,local_progression,6,52,second",
        eol="\r\n",
    ),
    "trailing_and_nbsp_spaces.csv": (
        "study_id ,modality\u00a0, outcome ,value ,ci_low,ci_high  ,author\r\n"
        "smith2019 ,RFA\u00a0,local_control , 0.85 ,0.8\u00a0,\u00a00.9,Smith \r\n"
        " lee2020,\u00a0MWA ,median_os,\u00a012\u00a0, 10 ,14 ,  Lee\r\n"
    ).encode("utf-8"),
    "missing_value_spellings.csv": lines(
        H + ",n_patients,notes",
        "a2019,Author A,NR,RFA,n/a,median_os,patients,—,,,not reached,12.1,NR (not reached),"
        "months,N/A,none",
        "b2019,Author B,NA,RFA,–,median_os,-,.,,,24.5,20,Not Reached,months,not reported,nan",
        "c2019,Author C,N/A,MWA,none,median_pfs,NR,NaN,,,Inf,9,inf,months,NR,—",
        "d2019,Author D,2019,MWA,liver,local_control,patients,12,NR,n/a,0.9,N/A,—,proportion,40,-",
    ),
    "unicode_author.csv": lines(
        "study_id,author,author_in_text,modality,outcome,events,total,notes",
        "kumler2020,Kümler,Kümler et al.,MWA,local_progression,3,30,Ærø – São Paulo ≤5 cm",
        "oegaard2021,Ødegård,Ødegård and Šimić,RFA,local_progression,2,25,",
    ),
    "cp1252_encoded.csv": (
        "study_id,author,modality,outcome,events,total,notes\r\n"
        "kumler2020,Kümler,MWA,local_progression,3,30,size 3–5 cm\r\n"
        "lee2020,Lee,RFA,local_progression,2,25,\r\n"
    ).encode("cp1252"),
    "extra_unknown_columns.csv": lines(
        "study_id,modality,outcome,value,reviewer,my flag",
        "smith2019,RFA,local_control,0.9,AB,1",
        "lee2020,MWA,local_control,0.8,CD,",
    ),
    "mixed_units_of_analysis.csv": lines(
        "study_id,modality,outcome,unit_of_analysis,events,total",
        "smith2019,RFA,local_progression,lesions,5,60",
        "lee2020,RFA,local_progression,patients,4,40",
        "kim2021,MWA,local_progression,patients,3,30",
        "park2022,RFA,local_progression,lesions,7,70",
    ),
    "full_schema.csv": lines(
        FULL,
        "smith2019,Smith,Smith et al.,2019,filippiadis2022,12,RFA,liver,colorectal,"
        "retrospective,40,52,lesions,local_progression,<3 cm,12,5,52,0.096,0.03,0.21,"
        'proportion,false,9.6%,percent,2.4,"LTP occurred in 5 of 52 lesions (9.6%)",',
        "smith2019,Smith,Smith et al.,2019,filippiadis2022,12,RFA,liver,colorectal,"
        "retrospective,40,52,patients,median_os,,,,,34.2,28.1,NR,months,true,148 weeks,"
        'weeks,,"median OS 148 weeks (95% CI 122–NR)",converted from weeks',
        "lee2020,Lee,Lee and Park,2020,newbury2022,3,MWA,lung,mixed,prospective,25,,patients,"
        'os_rate,,24,,,0.72,,,proportion,no,72%,percent,1.8,"2-year OS was 72%",',
    ),
    "multiline_quote.csv": lines(
        "study_id,modality,outcome,value,quote",
        'smith2019,RFA,local_control,0.9,"first line of the quote',
        'second line of the quote"',
        "lee2020,MWA,local_control,0.8,one line",
    ),
    "excel_sep_line.csv": lines(
        "sep=;",
        "study_id;modality;outcome;value",
        "smith2019;RFA;median_os;12,5",
    ),
    "case_insensitive_vocabulary.csv": lines(
        "study_id,modality,site,outcome,unit,value",
        "smith2019,rfa ,LIVER,Local_Control,Proportion,0.9",
        "lee2020, mwa,Lung,MEDIAN_OS,MONTHS,20",
    ),
    "tab_separated.csv": lines(
        "study_id\tauthor\tmodality\toutcome\tevents\ttotal",
        "smith2019\tSmith, J\tRFA\tlocal_progression\t4\t40",
    ),
    "utf16_excel_unicode_text.csv": (
        "study_id\tauthor\tmodality\toutcome\tvalue\r\nkumler2020\tKümler\tMWA\tlocal_control\t0.9\r\n"
    ).encode("utf-16"),
    "blank_lines_and_empty_rows.csv": lines(
        "study_id,modality,outcome,value,,",
        "smith2019,RFA,local_control,0.9,,",
        ",,,,,",
        "",
        "lee2020,MWA,local_control,0.8,,",
        ",,,,,",
    ),
}


def main() -> None:
    for sub, files in (("bad", BAD), ("good", GOOD)):
        folder = HERE / sub
        folder.mkdir(exist_ok=True)
        for name, data in files.items():
            (folder / name).write_bytes(data)
    print(f"wrote {len(BAD)} bad and {len(GOOD)} good files under {HERE}")


if __name__ == "__main__":
    main()
