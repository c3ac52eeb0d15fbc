"""The demo report and the CLI: contents checked against the demo's data files, counted independently."""

from __future__ import annotations

import base64
import csv
import re
import statistics
from collections import defaultdict

import docx
import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score
from typer.testing import CliRunner

from trdpath.errors import InputError
from trdpath.qualitative.agreement import agreement_by_code, segments_frame
from trdpath.qualitative.cli import app
from trdpath.qualitative.demo import DEMO_DIR, write_demo
from trdpath.qualitative.report import participant_characteristics, themes_table


def demo_rows(coder):
    with open(DEMO_DIR / f"coding_{coder.lower()}.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_themes_table_counts_match_the_coding_file(demo_project):
    table = themes_table(demo_project, segments_frame(demo_project), coders=["Alex"]).set_index("name")
    expected_segments, expected_people = defaultdict(int), defaultdict(set)
    for row in demo_rows("Alex"):
        expected_segments[row["code"]] += 1
        expected_people[row["code"]].add(row["document"])
    for code, n in expected_segments.items():
        assert table.loc[code, "segments"] == n, code
        assert table.loc[code, "participants_trd"] == sum(p.startswith("P") for p in expected_people[code])
        assert table.loc[code, "participants_clinicians"] == sum(p.startswith("C") for p in expected_people[code])
        for who, quote in table.loc[code, "quotes"]:
            assert who in expected_people[code]  # every quote is attributed to someone who said it
    assert table.loc["Barriers to treatment", "segments"] == sum(
        n for code, n in expected_segments.items()
        if code in ("Trial and error", "Illness stops help-seeking", "Waiting lists", "No dedicated funding",
                    "Discontinuity of care"))


def test_participant_characteristics_like_seed_002_table_1(demo_project):
    with open(DEMO_DIR / "participants.csv", newline="") as fh:
        people = list(csv.DictReader(fh))
    table = participant_characteristics(demo_project).set_index("characteristic")
    ages = [int(p["age"]) for p in people]
    trd_ages = [int(p["age"]) for p in people if p["role"] == "person_with_trd"]
    assert table.loc["Participants, n"].tolist() == ["10", "5", "5"]
    assert table.loc["Age range, years", "All"] == f"{min(ages)}\u2013{max(ages)}"
    assert table.loc["Age, median", "All"] == f"{statistics.median(ages):g}"
    assert table.loc["Age range, years", "People with TRD"] == f"{min(trd_ages)}\u2013{max(trd_ages)}"
    n_female = sum(p["gender"] == "Female" for p in people)
    assert table.loc["  Female", "All"] == f"{n_female} ({100 * n_female / 10:.1f}%)"


def test_demo_agreement_equals_scikit_learn_on_independently_located_quotes(demo_project):
    texts = {p.stem: p.read_text() for p in (DEMO_DIR / "transcripts").glob("*.txt")}
    order = sorted(texts)
    units = {}
    for coder in ("Alex", "Sam"):
        for row in demo_rows(coder):
            start = texts[row["document"]].find(row["quote"])
            assert start >= 0
            key = (coder, row["code"])
            units.setdefault(key, {d: np.zeros(len(texts[d]), dtype=int) for d in order})
            units[key][row["document"]][start:start + len(row["quote"])] = 1
    table = agreement_by_code(segments_frame(demo_project), ["Alex", "Sam"])
    table = table.assign(name=table["code"].str.split(" / ").str[-1]).set_index("name")
    assert len(table) == len({code for _coder, code in units})
    for code, row in table.iterrows():
        zeros = {d: np.zeros(len(texts[d]), dtype=int) for d in order}
        a = np.concatenate([units.get(("Alex", code), zeros)[d] for d in order])
        b = np.concatenate([units.get(("Sam", code), zeros)[d] for d in order])
        assert row["kappa"] == pytest.approx(cohen_kappa_score(a, b)), code
        assert row["agreement_pct"] == pytest.approx(100 * (a == b).mean()), code


def test_write_demo_writes_a_self_contained_report(tmp_path):
    html_path = write_demo(tmp_path / "out")
    assert html_path == tmp_path / "out" / "report.html"
    html = html_path.read_text()
    png = re.search(r'src="data:image/png;base64,([^"]+)"', html)
    assert png and base64.b64decode(png.group(1))[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<script" not in html and "http" not in html.split("<body>")[1].split("Written by")[0]
    for theme in ("TRD criteria", "Barriers to treatment", "Future treatment recommendations"):
        assert theme in html
    assert re.search(r"&rdquo; <cite>\(P\d\)</cite>", html) and re.search(r"<cite>\(C\d\)</cite>", html)
    assert "Saturation was reached after" in html and "Krippendorff" in html
    assert html.count("<td>Alex / Sam</td>") == 26  # one agreement row per code used by either coder
    document = docx.Document(str(tmp_path / "out" / "report.docx"))
    assert len(document.tables) == 4 and len(document.inline_shapes) == 1
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "| Participants, n | 10 | 5 | 5 |" in markdown and "![Code discovery and saturation](saturation.png)" in markdown
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]  # no temporary leftovers


def test_cli_end_to_end(tmp_path):
    runner = CliRunner()
    project = str(tmp_path / "s.qual")
    transcripts = [str(DEMO_DIR / "transcripts" / f"{n}.txt") for n in ("P1", "C1", "P2", "C2", "P3", "C3")]
    steps = [["init", project, "--name", "CLI"],
             ["import", project, *transcripts, "--participants", str(DEMO_DIR / "participants.csv")],
             ["codebook", project, "--import", str(DEMO_DIR / "codebook.yaml")],
             ["code", project, str(DEMO_DIR / "coding_alex.csv")],
             ["agree", project, "--out", str(tmp_path / "agree")],
             ["saturation", project, "--base", "4", "--run", "2"],
             ["codebook", project, "--history"],
             ["export", project, str(tmp_path / "s.qdpx")],
             ["export", project, str(tmp_path / "s.xlsx")],
             ["report", project, str(tmp_path / "rep"), "--format", "html,md", "--bootstrap", "0"],
             ["tables", project, str(tmp_path / "tables"), "--coder", "Alex"]]
    for args in steps[:3]:
        result = runner.invoke(app, args)
        assert result.exit_code == 0, (args, result.output)
    # coding_alex.csv codes P4..C5 too, which this project lacks: a clear error naming file and row, nothing added.
    result = runner.invoke(app, steps[3])
    assert isinstance(result.exception, InputError)
    assert re.search(r"coding_alex.csv, row \d+, column 'document'.*'P4'", str(result.exception))
    rows = [line for line in (DEMO_DIR / "coding_alex.csv").read_text().splitlines()
            if line.split(",")[0] in ("document", "P1", "C1", "P2", "C2", "P3", "C3")]
    (tmp_path / "alex.csv").write_text("\n".join(rows) + "\n")
    sam = [line.replace(",Alex,", ",Sam,") for line in rows]
    (tmp_path / "sam.csv").write_text("\n".join(sam) + "\n")
    for args in (["code", project, str(tmp_path / "alex.csv")], ["code", project, str(tmp_path / "sam.csv")],
                 *steps[4:]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, (args, result.output)
    with open(tmp_path / "agree" / "agreement_by_code.csv") as fh:
        agreement = list(csv.DictReader(fh))
    assert agreement and all(float(r["kappa"]) == 1.0 for r in agreement)  # identical coding
    assert "Saturation was" in runner.invoke(app, steps[5]).output
    assert (tmp_path / "rep" / "report.html").exists() and not (tmp_path / "rep" / "report.docx").exists()
    with open(tmp_path / "tables" / "code_frequencies.csv") as fh:
        frequencies = {r["code"]: int(r["segments"]) for r in csv.DictReader(fh)}
    assert sum(v for k, v in frequencies.items() if " / " not in k) == len(rows) - 1  # themes sum all segments
    result = runner.invoke(app, ["code", project, str(tmp_path / "missing.csv")])
    assert isinstance(result.exception, InputError) and "file not found" in str(result.exception)
