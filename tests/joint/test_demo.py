"""`trdpath demo` builds the joint display from the demo result and the demo interviews (one small run)."""

from __future__ import annotations

import csv
import html
import io

import pandas as pd
from rich.console import Console

from trdpath import layout
from trdpath.demo import run_demo
from trdpath.joint.render import DOCX, HTML, XLSX
from trdpath.qualitative.demo import DEMO_DIR


def participants_coded(codes: set[str]) -> set[str]:
    """A second count, from the demo's coding table itself: documents (= participants) Alex coded with ``codes``."""
    with open(DEMO_DIR / "coding_alex.csv", newline="", encoding="utf-8") as fh:
        return {r["document"] for r in csv.DictReader(fh) if r["code"] in codes}


def test_demo_writes_the_joint_display(tmp_path):
    run_demo(tmp_path, n_patients=600, seed=7, console=Console(file=io.StringIO()))
    out = tmp_path / "joint"
    assert sorted(p.name for p in out.iterdir()) == sorted([HTML, DOCX, XLSX])
    page = html.unescape((out / HTML).read_text(encoding="utf-8"))
    # The self-harm odds ratio as published in Table 3 (its last model), read here with pandas.
    table3 = pd.read_csv(layout.tables_dir(tmp_path / "results") / "table3_logistic_regression.csv", dtype=str)
    last = table3[table3["term"] == "self_harm"].iloc[-1]
    published = (f"OR {last['odds_ratio']} (95% CI {last['ci_lower']} to {last['ci_upper']})"
                 if last["odds_ratio"][:1].isdigit() else f"OR {last['odds_ratio']}")  # 'suppressed' at small n
    assert published in page
    # Exempt counts (the demo mapping's choice): Years lost P1-P5 -> 5 of 5 people with TRD, 0 of 5 clinicians;
    # Waiting lists or Discontinuity of care: 9 participants (P1-P4, C1-C5).
    years = participants_coded({"Years lost"})
    waits = participants_coded({"Waiting lists", "Discontinuity of care"})
    assert years == {"P1", "P2", "P3", "P4", "P5"} and len(waits) == 9
    assert "Participants: 5 of 10 (People with TRD 5 of 5; Clinicians 0 of 5)" in page
    assert "Participants: 9 of 10 (People with TRD 4 of 5; Clinicians 5 of 5)" in page
    assert "exempt from disclosure control by the researcher" in page
