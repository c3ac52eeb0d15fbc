"""`trdpath compare` end to end: the interface files, their exact columns, where they go, disclosure."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from support.cli import run_trdpath  # the CLI in the test's process (tests/support/cli.py)
from definitions.test_spec_definitions import CASES, _tables
from trdpath.definitions import shipped_definitions

IDS = list(shipped_definitions())
INDEX_DATE = dt.date(2022, 12, 31)
STAGED = {"maudsley", "thase_rush", "esm", "mgh_s", "msm_register"}


def test_compare_writes_the_interface_files(tmp_path):
    data = tmp_path / "extract"
    data.mkdir()
    for name, frame in _tables().items():
        frame.to_csv(data / f"{name}.csv", index=False)
    out = tmp_path / "out"
    proc = run_trdpath("compare", "--data", str(data), "--out", str(out),
                       "--index-date", "2022-12-31", "--quiet")
    assert proc.returncode == 0, proc.stderr

    patients = pd.read_csv(out / "definitions" / "patients.csv", dtype=str, keep_default_na=False)
    expected = ["patient_id"] + [c for i in IDS for c in
                                 [f"{i}__trd", f"{i}__date"] + ([f"{i}__stage"] if i in STAGED else [])]
    assert list(patients.columns) == expected
    n_patients = len({line.split("|")[0].strip() for _d, rx, *_ in CASES.values() for line in rx.splitlines() if line.strip()})
    assert len(patients) == n_patients
    # reu2 turns 70 on the index date: outside reutfors_2018's population (empty), inside maudsley's
    reu2 = patients.set_index("patient_id").loc["reu2"]
    assert (reu2["reutfors_2018__trd"], reu2["maudsley__trd"]) == ("", "true")

    why = pd.read_csv(out / "definitions" / "why.csv", dtype=str, keep_default_na=False)
    assert list(why.columns) == ["patient_id", "definition", "drug", "start_date", "end_date", "counted", "reason"]
    # mau2 under maudsley: sertraline and citalopram failed, mirtazapine the next step (3 rows, all counted)
    mau2 = why[(why.patient_id == "mau2") & (why.definition == "maudsley")].sort_values("start_date")
    assert mau2[["drug", "counted", "reason"]].values.tolist() == [
        ["sertraline", "true", "failed trial 1"], ["citalopram", "true", "failed trial 2"],
        ["mirtazapine", "true", "next step (switch) after the failed trials"]]
    assert "reu2" not in set(why[why.definition == "reutfors_2018"].patient_id)

    prevalence = pd.read_csv(out / "release" / "definitions" / "prevalence.csv", dtype=str)
    assert list(prevalence.columns) == ["definition", "population_n", "trd_n", "trd_pct"]
    assert prevalence.definition.tolist() == IDS
    agreement = pd.read_csv(out / "release" / "definitions" / "agreement.csv", dtype=str)
    assert list(agreement.columns) == ["definition_a", "definition_b", "n", "both", "a_only", "b_only", "neither", "kappa"]
    assert len(agreement) == len(IDS) * (len(IDS) - 1) // 2  # 12 definitions: 66 pairs
    # disclosure: no count from 1 to 7 in a publishable file; every number a multiple of 5
    for frame, columns in ((prevalence, ["population_n", "trd_n"]), (agreement, ["n", "both", "a_only", "b_only", "neither"])):
        for value in frame[columns].values.ravel():
            assert value in ("<8", "suppressed") or int(value) % 5 == 0, value
    assert (out / "release" / "definitions" / "section.html").read_text().startswith('<section id="definitions">')


def test_why_modes():
    from trdpath.definitions.compare import compare_tables

    maudsley = [shipped_definitions()["maudsley"]]
    tables = _tables()
    full = compare_tables(tables, maudsley, None, INDEX_DATE, why="all")
    trd_only = compare_tables(tables, maudsley, None, INDEX_DATE, why="trd")
    none = compare_tables(tables, maudsley, None, INDEX_DATE, why="none")
    trd_ids = set(full.patients.to_pandas().query("maudsley__trd == True").patient_id)
    all_rows = full.why.to_pandas()
    # "trd" keeps exactly the rows of the TRD patients (mau2 has 3: two failed trials and the step)
    assert sorted(map(tuple, trd_only.why.to_pandas().astype(str).values)) == \
        sorted(map(tuple, all_rows[all_rows.patient_id.isin(trd_ids)].astype(str).values))
    assert "mau2" in trd_ids and "mau1" not in set(trd_only.why.to_pandas().patient_id)
    assert none.why.num_rows == 0 and none.why.column_names == list(all_rows.columns)
    assert none.patients.equals(full.patients)  # the verdicts do not depend on the trace


def test_why_none_gives_the_same_verdicts_for_every_definition():
    # compare --why none takes shortcuts (a next step's day by a group-by, not the window that also picks its
    # drug for why.csv): every definition's verdicts, dates and stages equal those of the full trace's run,
    # which test_spec_definitions and test_engine_agrees hold to the reference, on every spec case.
    from trdpath.definitions.compare import compare_tables

    every = list(shipped_definitions().values())
    tables = _tables()
    full = compare_tables(tables, every, None, INDEX_DATE, why="all")
    none = compare_tables(tables, every, None, INDEX_DATE, why="none")
    assert full.patients.num_rows == 46 and none.patients.equals(full.patients)  # 46 spec patients
