"""The qualitative workflow through trdpath.api (what `trdpath qual ...` calls), on a small hand-made project
whose agreement and saturation are worked out by hand below."""

from __future__ import annotations

import pandas as pd
import pytest

from trdpath import api
from trdpath.errors import UserError

# Six interviews of exactly 100 characters each, imported in the order P1..P6.
LENGTH = 100
# Coder A: P1 Hope [0, 30) and Fear, P2 Hope and Loss, P3 Stigma, P4 Hope, P5 Hope, P6 Fear.
# Coder B: P1 Hope [20, 40) only.
CODING = [("P1", "Hope", "A", 0, 30), ("P1", "Fear", "A", 50, 60), ("P2", "Hope", "A", 0, 10),
          ("P2", "Loss", "A", 20, 30), ("P3", "Stigma", "A", 0, 10), ("P4", "Hope", "A", 0, 10),
          ("P5", "Hope", "A", 0, 10), ("P6", "Fear", "A", 0, 10), ("P1", "Hope", "B", 20, 40)]


@pytest.fixture()
def project(tmp_path):
    files = []
    for i in range(1, 7):
        text = f"Interviewer: how are you?\n\nP{i}: "
        path = tmp_path / f"P{i}.txt"
        path.write_text(text + "x" * (LENGTH - len(text)), encoding="utf-8")
        files.append(path)
    location = tmp_path / "study.qual"
    api.qual_init(location, "API study")
    seen = []
    done = api.qual_import(location, files, on_transcript=seen.append)
    assert done["transcripts"] == seen == [f"P{i}" for i in range(1, 7)]
    assert done["participants"] is None and done["memos"] is None and done["projects"] == {}
    table = tmp_path / "coding.csv"
    pd.DataFrame(CODING, columns=["document", "code", "coder", "start", "end"]).to_csv(table, index=False)
    assert api.qual_code(location, table) == len(CODING)  # 9 segments
    return location


def test_agreement_worked_by_hand(project, tmp_path):
    # P1, Hope: A codes [0, 30), B [20, 40): both 10 characters, neither 60 -> agreement (10 + 60) / 100 = 70%.
    # Expected agreement (30 * 20 + 70 * 80) / 100^2 = 0.62 -> kappa = (0.70 - 0.62) / (1 - 0.62) = 4/19.
    frames = api.qual_agreement(project, ["A", "B"], out=tmp_path / "agreement")
    hope = frames["by_code"].set_index("code").loc["Hope"]
    assert hope["agreement_pct"] == pytest.approx(70.0)
    assert hope["kappa"] == pytest.approx(4 / 19)
    written = pd.read_csv(tmp_path / "agreement" / "agreement_by_code.csv")
    assert written.set_index("code").loc["Hope", "agreement_pct"] == pytest.approx(70.0)
    assert {p.name for p in (tmp_path / "agreement").iterdir()} == {
        "agreement_by_code.csv", "agreement_by_document.csv", "disagreements.csv"}


def test_saturation_worked_by_hand(project):
    # Coder A's code sets: P1 {Hope, Fear}, P2 {Hope, Loss}, P3 {Stigma}, P4 {Hope}, P5 {Hope}, P6 {Fear}.
    # New codes per interview 2, 1, 1, 0, 0, 0; cumulative 2, 3, 4, 4, 4, 4.
    # Base 2 interviews = {Hope, Fear, Loss} (3 codes); runs of 2: P3-P4 add Stigma (1/3), P4-P5 nothing (0),
    # P5-P6 nothing (0): the first run within 5% is P4-P5.
    curve, result = api.qual_saturation(project, ["A"], base=2, run=2, threshold=0.05)
    assert curve["new_codes"].tolist() == [2, 1, 1, 0, 0, 0]
    assert curve["cumulative_codes"].tolist() == [2, 3, 4, 4, 4, 4]
    assert result.runs["new_codes"].tolist() == [1, 0, 0]
    assert result.runs["ratio"].tolist() == pytest.approx([1 / 3, 0, 0])
    assert result.runs["meets_threshold"].tolist() == [False, True, True]


def test_codebook_export_and_refusals(project, tmp_path):
    done = api.qual_codebook(project)
    assert sorted(done["codebook"]["name"]) == ["Fear", "Hope", "Loss", "Stigma"]  # created by qual_code
    assert (done["history"]["action"] == "create").sum() == 4
    segments = api.qual_export(project, tmp_path / "segments.csv")
    assert len(pd.read_csv(segments)) == len(CODING)
    only_b = api.qual_export(project, tmp_path / "b.csv", ["B"])
    assert len(pd.read_csv(only_b)) == 1
    # A wrong suffix or report format is refused before any project is opened (even a missing one).
    with pytest.raises(UserError, match=r"\.qdpx, \.qdc, \.csv or \.xlsx"):
        api.qual_export(tmp_path / "missing.qual", tmp_path / "x.pdf")
    with pytest.raises(UserError, match="unknown report format"):
        api.qual_report(tmp_path / "missing.qual", tmp_path / "r", formats=["pdf"])
    written = api.qual_tables(project, tmp_path / "tables", ["A"])
    assert [p.name for p in written] == ["code_frequencies.csv", "co_occurrence.csv", "code_by_participant.csv"]
    assert all(p.is_file() for p in written)


def test_report_and_roundtrip_through_qdpx(project, tmp_path):
    report = api.qual_report(project, tmp_path / "report", formats=["md"], bootstrap=0, base=2, run=2)
    assert [p.name for p in report] == ["saturation.png", "report.md"]  # the Markdown links the curve's PNG
    qdpx = api.qual_export(project, tmp_path / "study.qdpx")
    copy = tmp_path / "copy.qual"
    api.qual_init(copy)
    done = api.qual_import(copy, [qdpx])
    assert done["projects"]["study.qdpx"]["sources"] == 6
    assert len(api.qual_agreement(copy)["by_code"]) > 0
    # Merging the copy back duplicates nothing: documents match by name and segments by place.
    api.qual_merge(project, copy)
    assert len(pd.read_csv(api.qual_export(project, tmp_path / "after.csv"))) == len(CODING)


def test_serving_needs_a_lead_account(project):
    with pytest.raises(UserError, match="no lead account"):
        api.qual_coding_app(project)
    api.qual_account(project, "lead", "a long enough password", role="lead")
    assert api.qual_coding_app(project) is not None
    api.qual_account(project, "lead", "another long password", reset=True)
    with pytest.raises(UserError):  # an account name is taken once
        api.qual_account(project, "lead", "a long enough password", role="coder")
