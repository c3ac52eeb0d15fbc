"""`trdpath classify --definition FILE|ID`: the usual results folder with TRD decided by one definition."""

from __future__ import annotations

import subprocess

import pandas as pd
import pytest

from support.cli import run_trdpath  # the CLI in the test's process (tests/support/cli.py)
from definitions.test_spec_definitions import INDEX, _tables
from trdpath.definitions import shipped_definitions
from trdpath.definitions.reference import evaluate_in_memory


def _run(*args: str) -> subprocess.CompletedProcess:
    return run_trdpath("classify", "--index-date", str(INDEX), "--quiet", *args)


@pytest.fixture(scope="module")
def extract(tmp_path_factory):
    data = tmp_path_factory.mktemp("extract")
    for name, frame in _tables().items():
        frame.to_csv(data / f"{name}.csv", index=False)
    return data


def _patients(out):
    return pd.read_csv(out / "patients.csv", dtype=str, keep_default_na=False).set_index("patient_id")


def test_the_maudsley_definition_gives_classify_exactly(extract, tmp_path):
    plain, by_file = tmp_path / "plain", tmp_path / "maudsley"
    assert _run("--data", str(extract), "--out", str(plain)).returncode == 0
    proc = _run("--data", str(extract), "--out", str(by_file), "--definition", "maudsley")
    assert proc.returncode == 0, proc.stderr
    assert _patients(plain).equals(_patients(by_file))
    assert (by_file / "definition.toml").read_text().startswith("id = \"maudsley\"") or "maudsley" in (by_file / "definition.toml").read_text()


@pytest.mark.parametrize("name", ["ema_two_failures", "reutfors_2018", "ohdsi_1009"])
def test_another_definition_decides_trd_as_its_reference_does(extract, tmp_path, name):
    """trd / trd_date as the plain-Python reference evaluates the definition (a second implementation);
    resistance_level recomputed from them (MDD for cohort non-TRD, else the number of antidepressants)."""
    out = tmp_path / name
    proc = _run("--data", str(extract), "--out", str(out), "--definition", name)
    assert proc.returncode == 0, proc.stderr
    got = _patients(out)
    want, _why = evaluate_in_memory(_tables(), [shipped_definitions()[name]], None, INDEX)
    want = want.set_index("patient_id")
    cohort = got[got.in_cohort == "true"]
    assert len(cohort) > 0
    for pid, row in cohort.iterrows():
        expected = want.at[pid, f"{name}__trd"]
        expected = bool(expected) if expected is not None and not pd.isna(expected) else False  # outside its ages: not TRD
        assert row["trd"] == ("true" if expected else "false"), pid
        day = want.at[pid, f"{name}__date"]
        assert row["trd_date"] == (str(day)[:10] if expected else ""), pid
        n = int(row["n_antidepressants"] or 0)
        assert row["resistance_level"] == (("4+" if n >= 4 else str(n)) if expected else "MDD"), pid
    # the spec cases hold TRD patients under this definition, and it is recorded in the folder
    assert (cohort.trd == "true").any()
    assert f'id = "{name}"' in (out / "definition.toml").read_text()


def test_a_bad_definition_file_names_file_key_and_value_and_writes_nothing(extract, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('id = "mine"\ntitle = "t"\nsummary = "s"\nsources = ["me"]\n[trial]\nmin_days = -3\n')
    out = tmp_path / "out"
    proc = _run("--data", str(extract), "--out", str(out), "--definition", str(bad))
    assert proc.returncode == 2
    assert str(bad) in proc.stderr + proc.stdout and "trial.min_days" in proc.stderr + proc.stdout
    assert "-3" in proc.stderr + proc.stdout and "Traceback" not in proc.stderr + proc.stdout
    assert not out.exists()


@pytest.mark.parametrize("value", ["no_such_definition", "maudsley,kim_2020", "missing/file.toml"])
def test_an_unknown_or_double_definition_is_a_user_error(extract, tmp_path, value):
    out = tmp_path / "out"
    proc = _run("--data", str(extract), "--out", str(out), "--definition", value)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout and value in proc.stderr + proc.stdout
    assert not out.exists()
