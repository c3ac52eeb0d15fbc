"""The written report: files, formatting as in the paper, self-containment, atomicity, reading a classification."""

from __future__ import annotations

import datetime as dt
import io
import re

import pandas as pd
import pytest
from docx import Document

from trdpath import layout
from trdpath.config import StudyConfig, config_from_dict
from trdpath.errors import UserError
from trdpath.report import read_classification, write_report
from support.synthetic import cohort_with_counts, synthetic_patients

META = {"software_version": "9.9.9-test", "index_date": dt.date(2021, 10, 31),
        "data_date_range": (dt.date(1996, 3, 1), dt.date(2021, 10, 31)), "source": "unit test"}
NO_DISCLOSURE = config_from_dict({"disclosure": {"enabled": False}})


def paper_like_cohort():
    """The paper's Table 1 ICD-10 rows and a few Table 2 rows (MDD 2675, TRD 2461)."""
    return cohort_with_counts(
        2675, 2461, {"anxiety": (656, 759), "self_harm": (25, 66), "psychotic_symptoms": (222, 370)},
        {"depression_code": {"F32": (1963, 1679), "F33": (712, 782)}})


def attrition_for(patients):
    n = len(patients)
    return pd.DataFrame({"rule": ["extract", "no_depression_diagnosis"], "remaining": [n + 100, n],
                         "excluded": [0, 100]})


@pytest.fixture(scope="module")
def paper_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("paper")
    patients = paper_like_cohort()
    write_report(out, patients, attrition_for(patients), NO_DISCLOSURE, META)
    return out


def test_all_outputs_are_written(paper_report):
    tables = layout.tables_dir(paper_report)
    for stem in ("table1_sociodemographics", "table2_comorbidities", "table3_logistic_regression", "model_fit",
                 "resistance_levels", "service_use"):
        assert (tables / f"{stem}.csv").is_file()
    assert (tables / "tables.xlsx").is_file()
    assert layout.report_html(paper_report).is_file() and layout.report_docx(paper_report).is_file()
    assert not list(paper_report.glob(".report-*"))  # no staging folders left behind
    fit = pd.read_csv(tables / "model_fit.csv")
    assert list(fit.columns[:8]) == ["model", "n", "minus2ll", "chi2", "df", "p_value", "cox_snell_r2",
                                     "nagelkerke_r2"]
    table3 = pd.read_csv(tables / "table3_logistic_regression.csv")
    assert list(table3.columns[:6]) == ["model", "term", "odds_ratio", "ci_lower", "ci_upper", "p_value"]


def test_xlsx_holds_the_same_tables_as_the_csv(paper_report):
    tables = layout.tables_dir(paper_report)
    sheets = pd.read_excel(tables / "tables.xlsx", sheet_name=None)
    csv = pd.read_csv(tables / "table2_comorbidities.csv")
    sheet = sheets["table2_comorbidities"]
    assert list(sheet["variable"]) == list(csv["variable"])
    pd.testing.assert_series_equal(sheet["statistic"], csv["statistic"], check_exact=False, rtol=1e-9)
    assert csv["statistic"].notna().sum() > 0
    assert "about" in sheets and "9.9.9-test" in sheets["about"]["value"].astype(str).tolist()


def test_html_formats_tables_as_in_the_paper(paper_report):
    html = layout.report_html(paper_report).read_text(encoding="utf-8")
    # Table 1 of the paper: "1963 (73.38)", "712 (26.62)"; chi-squared 16.54 on 1 df; P < 0.001.
    assert "1963 (73.38)" in html and "712 (26.62)" in html
    assert "χ²(1) = 16.54" in html
    assert "&lt;0.001" in html
    # Table 2: anxiety 656 (24.52) v. 759 (30.84), chi-squared 25.63 (the paper prints 24.50 / 30.80).
    assert "656 (24.52)" in html and "25.63" in html
    assert "9.9.9-test" in html and "1996-03-01" in html and "2021-10-31" in html
    assert "regression_blocks" in html  # the configuration is stated


def test_html_is_self_contained(paper_report):
    html = layout.report_html(paper_report).read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]+src=", html)
    assert not re.search(r"<link[^>]+href=\"?https?:", html)
    assert not re.search(r"<img[^>]+src=\"https?:", html)
    assert html.count("data:image/png;base64,") >= 6
    # The Sankey is inline SVG (issue 16 item 2): no plotting library in the file.
    assert '<svg id="sankey"' in html and "Plotly" not in html and "plotly" not in html


def test_docx_holds_the_same_tables(paper_report):
    document = Document(str(layout.report_docx(paper_report)))
    text = "\n".join(cell.text for table in document.tables for row in table.rows for cell in row.cells)
    assert "1963 (73.38)" in text and "χ²(1) = 16.54" in text and "<0.001" in text
    headings = [p.text for p in document.paragraphs if p.style.name.startswith("Heading")]
    assert any(h.startswith("Table 1") for h in headings) and any(h.startswith("Table 3") for h in headings)
    assert len(document.inline_shapes) >= 6


def test_disclosure_reaches_html_and_docx(tmp_path):
    patients = cohort_with_counts(300, 200, {"self_harm": (3, 20), "anxiety": (61, 52)})
    write_report(tmp_path, patients, attrition_for(patients), StudyConfig(), META)
    html = layout.report_html(tmp_path).read_text(encoding="utf-8")
    table2 = pd.read_html(io.StringIO(html), match="Self-harm")[0]
    row = table2[table2.iloc[:, 0] == "Self-harm"].iloc[0]
    assert row.iloc[1] == "<8" and row.iloc[2] == "20 (10.0)"
    anxiety = table2[table2.iloc[:, 0] == "Anxiety disorders"].iloc[0]
    assert anxiety.iloc[1] == "60 (20.0)"  # 61 rounded to 60, percentage of the rounded 300, one decimal
    document = Document(str(layout.report_docx(tmp_path)))
    cells = [cell.text for table in document.tables for row in table.rows for cell in row.cells]
    assert "<8" in cells and "61 (20.33)" not in cells


def test_a_failed_report_leaves_the_previous_one(tmp_path, monkeypatch):
    patients = synthetic_patients(300, seed=1)
    write_report(tmp_path, patients, attrition_for(patients), StudyConfig(), META)
    before = layout.report_html(tmp_path).read_bytes()

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("trdpath.report.figures.all_figures", broken)
    with pytest.raises(RuntimeError):
        write_report(tmp_path, patients, attrition_for(patients), StudyConfig(), META)
    assert layout.report_html(tmp_path).read_bytes() == before
    assert (layout.tables_dir(tmp_path) / "table1_sociodemographics.csv").is_file()
    assert not list(tmp_path.glob(".report-*"))
    # nothing of the failed run is left beside the folder either
    assert not list(tmp_path.parent.glob(f".{tmp_path.name}.*"))


def test_read_classification_round_trip(tmp_path):
    patients = synthetic_patients(200, seed=2)
    patients.to_parquet(tmp_path / "patients.parquet", index=False)
    attrition_for(patients).to_csv(tmp_path / "attrition.csv", index=False)
    config = config_from_dict({"disclosure": {"min_count": 10}})
    (tmp_path / "config.toml").write_text(config.to_toml(), encoding="utf-8")
    read_patients, attrition, read_config = read_classification(tmp_path)
    assert read_config.disclosure.min_count == 10
    assert list(attrition["remaining"]) == [300, 200]
    for column in ("trd_date", "episode_start"):  # parquet may store dates at another resolution
        read_patients[column] = read_patients[column].astype("datetime64[ns]")
        patients[column] = patients[column].astype("datetime64[ns]")
    pd.testing.assert_frame_equal(read_patients, patients, check_dtype=False)
    from trdpath.api import report

    report(tmp_path)
    csv = pd.read_csv(layout.tables_dir(tmp_path) / "table2_comorbidities.csv", dtype=str)
    assert "<10" in set(csv["mdd_n"]) | set(csv["trd_n"])  # the folder's own min_count is used


def test_read_classification_names_what_is_missing(tmp_path):
    with pytest.raises(UserError, match="patients.parquet"):
        read_classification(tmp_path)
