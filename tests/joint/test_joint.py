"""Joint displays: every figure worked out by hand from tests/joint/conftest.py."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
import yaml
from openpyxl import load_workbook

from trdpath.cli import handle
from trdpath.errors import UserError
from trdpath.joint.cli import build_joint_display
from trdpath.joint.display import build_display
from trdpath.joint.mapping import parse_mapping
from trdpath.joint.render import DOCX, HTML, XLSX, render_html
from trdpath.qualitative.store import open_project
from .handmade import LONG_QUOTE, build_project, project, result, write_result  # noqa: F401 - fixtures


def row(finding: dict, codes: list[str], **extra) -> dict:
    return {"finding": finding, "codes": codes, "judgement": "convergence", "meta_inference": "m", **extra}


def mapping(*rows: dict, **top) -> dict:
    return {"rows": list(rows), **top}


def display_of(result: Path, project: Path, plan: dict):
    with open_project(project) as qual:
        return build_display(parse_mapping(plan), result, qual)


BARRIERS = row({"kind": "predictor", "term": "waiting"}, ["Barriers"], quotes=3)


def cells(display_row) -> dict[str, str]:
    return {c.label: f"{c.shown} of {c.of}" for c in display_row.counts}


def test_counts_exempt_are_the_hand_counts(result, project):
    # Barriers rolls up Waiting lists (P1-P9, C1-C3) and Funding (P1, C1 again): 9 people with TRD + 3
    # clinicians = 12 of the 19 participants; coder Ann only, so Bob's C4 is left out. Levels: P1-P3 -> 2,
    # P4-P6 -> 3, P7-P9 -> 4+: 3 of 3 each.
    plan = mapping(BARRIERS, coders=["Ann"], level_attribute="level", participant_counts="exempt",
                   exempt_reason="consented interviews outside the secure environment")
    shown = display_of(result, project, plan).rows[0]
    assert shown.total == "12 of 19"
    assert cells(shown) == {"People with TRD": "9 of 9", "Clinicians": "3 of 10", "Level 2": "3 of 3",
                            "Level 3": "3 of 3", "Level 4+": "3 of 3"}


def test_every_coder_counts_when_none_is_named(result, project):
    # Bob's coding of C4 joins: clinicians 3 + 1 = 4, total 13.
    plan = mapping(BARRIERS, participant_counts="exempt", exempt_reason="r")
    shown = display_of(result, project, plan).rows[0]
    assert shown.total == "13 of 19"
    assert cells(shown) == {"People with TRD": "9 of 9", "Clinicians": "4 of 10"}


def test_counts_protected_by_default(result, project):
    # Default rule (min_count 8, rounding 5): clinicians 3 -> <8; TRD 9 would be recoverable as 12 - 3 from the
    # total, so it is hidden too (secondary: 'suppressed'); total 12 -> 10. Sizes: TRD 9 -> 10, clinicians
    # 10 -> 10, all 19 -> 20; levels 3, 3, 3 -> <8 each (they add up to 9 >= 8: nothing more to hide).
    plan = mapping(BARRIERS, coders=["Ann"], level_attribute="level")
    display = display_of(result, project, plan)
    shown = display.rows[0]
    assert shown.total == "10 of 20"
    assert cells(shown) == {"People with TRD": "suppressed of 10", "Clinicians": "<8 of 10",
                            "Level 2": "<8 of <8", "Level 3": "<8 of <8", "Level 4+": "<8 of <8"}
    assert any("counts 1-7 shown as <8" in note for note in display.notes)


def test_a_single_participant_is_shown_as_small(result, project):
    # Hope: P1 only -> 1 person with TRD (<8), 0 clinicians (0 is shown: it identifies no one), total 1 -> <8.
    plan = mapping(row({"kind": "comparison", "variable": "employment_group", "level": "Economically inactive"},
                       ["Hope"], quotes=1), coders=["Ann"])
    shown = display_of(result, project, plan).rows[0]
    assert shown.total == "<8 of 20"
    assert cells(shown) == {"People with TRD": "<8 of 10", "Clinicians": "0 of 10"}


def test_disclosure_turned_off_in_the_result_gives_exact_counts(tmp_path, project):
    result = write_result(tmp_path / "OFF", config="[disclosure]\nenabled = false\n")
    display = display_of(result, project, mapping(BARRIERS, coders=["Ann"]))
    assert display.rows[0].total == "12 of 19"
    assert any("may not leave the secure environment" in note for note in display.notes)


def test_the_result_min_count_is_the_rule(tmp_path, project):
    # min_count 3, rounding 1 in the result's config: 3 clinicians are shown; nothing is rounded.
    result = write_result(tmp_path / "MIN3", config="[disclosure]\nmin_count = 3\nrounding = 1\n")
    shown = display_of(result, project, mapping(BARRIERS, coders=["Ann"])).rows[0]
    assert cells(shown) == {"People with TRD": "9 of 9", "Clinicians": "3 of 10"}


def test_quantitative_figures_are_the_published_cells(result, project):
    plan = mapping(
        BARRIERS,  # default model: the last holding the term (Model 2: 1.42, 1.02-1.98, P 0.038)
        row({"kind": "predictor", "term": "waiting", "model": "Model 1"}, ["Hope"]),
        row({"kind": "comparison", "variable": "employment_group", "level": "Economically inactive"}, ["Hope"]),
        row({"kind": "comparison", "variable": "age"}, ["Hope"]),
        row({"kind": "comparison", "variable": "sedatives"}, ["Hope"]),
        row({"kind": "resistance_level", "variable": "resistance_level"}, ["Hope"]),
        row({"kind": "service_use", "measure": "patients", "category": "specialist"}, ["Hope"]),
        row({"kind": "prevalence", "definition": "fekadu_2009"}, ["Hope"]),
        row({"kind": "predictor", "term": "rare_thing"}, ["Hope"]),
        coders=["Ann"])
    texts = [r.quantitative.text() for r in display_of(result, project, plan).rows]
    # Wilson 95% CI of 50/200 (p 0.25, z 1.96): centre (0.25 + 1.96^2/400) / (1 + 1.96^2/200) = 0.2546,
    # half-width 1.96 sqrt(0.25*0.75/200 + 1.96^2/160000) / 1.0192 = 0.0597 -> 19.5% to 31.4%.
    assert texts == [
        "OR 1.42 (95% CI 1.02 to 1.98), P = 0.038",
        "OR 1.5 (95% CI 1.1 to 2.05), P = 0.011",
        "MDD 30.0% (30) v TRD 45.0% (45); χ²(1) = 4.8, P = 0.028",  # the level's counts, its variable's test
        "MDD mean 49.7 (s.d. 16.3) v TRD mean 47.0 (s.d. 15.8); t(198) = 1.2, P = 0.232",
        "MDD <8 v TRD <8; Fisher's exact test, P suppressed",
        "MDD 50.0% (100) v TRD level 2 25.0% (50) v TRD level 3 15.0% (30) v TRD level 4+ 10.0% (20)",
        "MDD 20.0% (20) v TRD 35.0% (35); χ²(1) = 5.04, P = 0.025",
        "TRD prevalence 25.0% (95% CI 19.5% to 31.4%), 50 of 200",
        "OR suppressed",
    ]


def test_quotes_attributed_with_pseudonym_and_group(result, project):
    plan = mapping(BARRIERS, row({"kind": "predictor", "term": "waiting"}, ["Hope"], quotes=1), coders=["Ann"])
    barriers, hope = display_of(result, project, plan).rows
    assert [(q.participant, q.group, q.text) for q in hope.theme.quotes] == [("P1", "person with TRD", "I still hope.")]
    # Three quotes from three different participants, both groups heard; P2's ~one-sentence quote is chosen
    # first (closest to 120 characters), and a clinician's with it.
    assert len(barriers.theme.quotes) == 3
    assert len({q.participant for q in barriers.theme.quotes}) == 3
    assert {q.group for q in barriers.theme.quotes} == {"person with TRD", "clinician"}
    assert ("P2", LONG_QUOTE) in [(q.participant, q.text) for q in barriers.theme.quotes]


def test_a_quote_cut_mid_sentence_is_marked(result, tmp_path):
    project = build_project(tmp_path / "cut.sqlite", quote="and then nothing again.")
    plan = mapping(row({"kind": "predictor", "term": "waiting"}, ["Hope"], quotes=1), coders=["Ann"])
    assert display_of(result, project, plan).rows[0].theme.quotes[0].text == "\u2026and then nothing again."


HOSTILE_QUOTE = '=HYPERLINK("http://evil.example/x","click")<script>alert(1)</script><img src=x onerror=alert(2)>'
HOSTILE_CODE = "+cmd|' /C calc'!A0 <b onmouseover=alert(3)"  # no '/' or '>' either side: a code path splits on them


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    return build_project(tmp_path / "hostile.sqlite", quote=HOSTILE_QUOTE, code_name="Hope <b onmouseover=alert(3)",
                         label="@SUM(1+1)<i>")


def hostile_plan() -> dict:
    return mapping(row({"kind": "predictor", "term": "waiting"}, ["Hope <b onmouseover=alert(3)"], quotes=1,
                       theme=HOSTILE_CODE, meta_inference="-2+3 <script>alert(4)</script>"), coders=["Ann"],
                   title="<script>alert(5)</script>")


def test_hostile_text_is_inert_in_html(result, hostile, tmp_path):
    out = tmp_path / "joint"
    build_joint_display(result, str(hostile), _write(tmp_path, hostile_plan()), out)
    page = (out / HTML).read_text(encoding="utf-8")
    assert "<script" not in page.lower() and "<img" not in page.lower() and "<b " not in page
    assert "onmouseover=alert(3)" in html.unescape(page)  # shown as text, escaped
    assert html.escape(HOSTILE_QUOTE, quote=False) in page.replace("&#34;", '"').replace("&#39;", "'")
    # Self-contained: no URL the browser would fetch (the hostile link is text inside an escaped quote).
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page, re.I)
    assert "default-src 'none'" in page


def test_hostile_text_is_inert_in_xlsx(result, hostile, tmp_path):
    out = tmp_path / "joint"
    build_joint_display(result, str(hostile), _write(tmp_path, hostile_plan()), out)
    book = load_workbook(out / XLSX)
    values = []
    for sheet in book.worksheets:
        for line in sheet.iter_rows():
            for cell in line:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
                values.append(cell.value)
    # Cells that start with = + - @ are prefixed with ' (trdpath.safety, OWASP CSV injection).
    assert "'" + HOSTILE_CODE in values
    assert "'-2+3 <script>alert(4)</script>" in values
    assert not any(isinstance(v, str) and v[:1] in "=+-@" for v in values)
    assert any(isinstance(v, str) and "@SUM(1+1)<i>" in v for v in values)  # the pseudonym kept as text


def _write(tmp_path: Path, plan: dict, name: str = "mapping.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(plan, allow_unicode=True), encoding="utf-8")
    return path


def test_cli_writes_three_files(result, project, tmp_path, capsys):
    plan = _write(tmp_path, mapping(BARRIERS, coders=["Ann"]))
    out = tmp_path / "joint"
    code = handle(["joint", "--results", str(result), "--project", str(project), "--mapping", str(plan),
                   "--out", str(out)])
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == sorted([HTML, DOCX, XLSX])
    from docx import Document

    text = "\n".join(c.text for t in Document(out / DOCX).tables for r in t.rows for c in r.cells)
    assert "OR 1.42 (95% CI 1.02 to 1.98), P = 0.038" in text and "10 of 20" in text


BAD = [
    ("rows: []\n", "rows: List should have at least 1 item"),
    ("- just a list\n", "expected a YAML mapping"),
    ("rows: [{finding: {kind: predictor, term: x}, codes: [Hope], judgement: agree, meta_inference: m}]\n",
     "row [1].judgement: Input should be 'convergence', 'divergence' or 'expansion' (got 'agree')"),
    ("rows: [{finding: {kind: odds, term: x}, codes: [Hope], judgement: expansion, meta_inference: m}]\n",
     "row [1].finding: Input tag 'odds'"),
    ("rows: [{finding: {kind: predictor, trem: x}, codes: [Hope], judgement: expansion, meta_inference: m}]\n",
     "row [1].finding.trem: Extra inputs are not permitted (got 'x')"),
    ("rows: [{finding: {kind: predictor, term: x}, codes: [Hope], judgement: expansion, meta_inference: m, "
     "quotes: 9}]\n", "row [1].quotes: Input should be less than or equal to 3 (got 9)"),
    ("rows: [{finding: {kind: predictor, term: x}, codes: [Hope], judgement: expansion, meta_inference: m, "
     "quotes: 0}]\n", "row [1].quotes: Input should be greater than or equal to 1 (got 0)"),
    ("title: T\nrows: [{finding: {kind: predictor, term: x}, codes: [], judgement: expansion, meta_inference: ''}]\n",
     "row [1].codes: List should have at least 1 item"),
    ("participant_counts: exempt\nrows: [{finding: {kind: predictor, term: waiting}, codes: [Hope], "
     "judgement: expansion, meta_inference: m}]\n", "exempt needs an exempt_reason"),
    ("rows: [{finding: {kind: predictor, term: x}, codes: [Hope], judgement: expansion, meta_inference: m]\n",
     "is not valid YAML"),
    # Valid files naming what is not there: the message names the row, the key and the value.
    ("rows: [{finding: {kind: predictor, term: nowhere}, codes: [Hope], judgement: expansion, meta_inference: m}]\n",
     "row 1: term 'nowhere' is not in the published table"),
    ("rows: [{finding: {kind: predictor, term: waiting, model: Model 9}, codes: [Hope], judgement: expansion, "
     "meta_inference: m}]\n", "row 1: model 'Model 9' is not in the published table (it has: Model 1, Model 2)"),
    ("rows: [{finding: {kind: comparison, variable: employment_group, level: Retired}, codes: [Hope], "
     "judgement: expansion, meta_inference: m}]\n",
     "row 1: level 'Retired' is not in the published table (it has: Economically inactive, Employed)"),
    ("rows: [{finding: {kind: predictor, term: waiting}, codes: [Nope], judgement: expansion, meta_inference: m}]\n",
     "row 1: codes: no code 'Nope' in the codebook"),
    ("coders: [Zed]\nrows: [{finding: {kind: predictor, term: waiting}, codes: [Hope], judgement: expansion, "
     "meta_inference: m}]\n", "coders: 'Zed' has coded nothing in the project"),
    ("level_attribute: stage\nrows: [{finding: {kind: predictor, term: waiting}, codes: [Hope], judgement: expansion, "
     "meta_inference: m}]\n", "level_attribute: no participant has an attribute 'stage'"),
]


@pytest.mark.parametrize(("text", "message"), BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_mapping_gets_a_message_no_traceback_no_output(result, project, tmp_path, capsys, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    out = tmp_path / "joint"
    code = handle(["joint", "-r", str(result), "-p", str(project), "-m", str(path), "-o", str(out)])
    captured = capsys.readouterr()
    printed = " ".join((captured.out + captured.err).split())
    assert code != 0
    assert " ".join(message.split()) in printed, printed
    assert "Traceback" not in printed and "Internal error" not in printed
    assert not out.exists() or not any(out.iterdir())


def test_prevalence_without_the_atlas_names_the_file(tmp_path, project):
    result = write_result(tmp_path / "NOATLAS")
    (result / "release" / "definitions" / "prevalence.csv").unlink()
    with pytest.raises(UserError, match=r"row 1: a prevalence finding needs .*prevalence.csv"):
        display_of(result, project, mapping(row({"kind": "prevalence", "definition": "x"}, ["Hope"])))


def test_html_layouts_follow_the_mapping(result, project):
    one = display_of(result, project, mapping(BARRIERS, coders=["Ann"], layouts=["side-by-side"]))
    page = render_html(one)
    assert "Side-by-side joint display" in page and "Statistics-by-themes joint display" not in page


def test_demo_mapping_is_valid():
    from trdpath.demo import DEMO_MAPPING
    from trdpath.joint.mapping import load_mapping

    plan = load_mapping(DEMO_MAPPING)
    assert {r.judgement for r in plan.rows} == {"convergence", "divergence", "expansion"}
    assert {type(r.finding).__name__ for r in plan.rows} >= {"Predictor", "Comparison", "ResistanceLevel", "ServiceUse"}
