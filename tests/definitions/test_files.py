"""Definition files: every shipped one is valid and cited; a user's bad file gets one message naming
the key and the value, a non-zero exit and no traceback (CLI), and nothing is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.cli import run_trdpath  # the CLI in the test's process (tests/support/cli.py)
from trdpath.definitions import load_definition_file, resolve_definitions, shipped_definitions
from trdpath.errors import UserError

SPEC_IDS = ["maudsley", "ohdsi_1009", "fabbri_2021", "kim_2020", "reutfors_2018", "gronemann_2021",
            "third_course_claims", "ema_two_failures", "thase_rush", "esm", "mgh_s", "msm_register"]

GOOD = """
id = "mine"
title = "Mine"
summary = "three failed trials then anything"
sources = ["me"]
[trial]
min_days = 42
[event]
kind = "next_step"
failures = 3
"""


def test_the_twelve_definitions_of_the_spec_are_shipped_with_sources():
    shipped = shipped_definitions()
    assert sorted(shipped) == sorted(SPEC_IDS)
    assert list(shipped)[0] == "maudsley"  # the default first
    for d in shipped.values():
        assert d.sources and all(s.strip() for s in d.sources)
        assert d.checked, f"{d.id}: say how its parameters were confirmed, or that they were not"


def test_a_users_file_loads(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(GOOD)
    d = load_definition_file(path)
    assert (d.id, d.trial.min_days, d.event.failures, d.trial.dose) == ("mine", 42, 3, "adequate")
    chosen = resolve_definitions(["maudsley,kim_2020", str(path)])
    assert [c.id for c in chosen] == ["maudsley", "kim_2020", "mine"]


@pytest.mark.parametrize("old, new, key, value", [
    ("min_days = 42", "min_days = -3", "trial.min_days", "-3"),                 # out of range
    ("min_days = 42", 'min_days = 42\ndose = "low"', "trial.dose", "low"),     # not a choice
    ('kind = "next_step"', 'kind = "third"', "event.kind", "third"),
    ('kind = "next_step"', 'kind = "next_step"\ncolour = "red"', "event.colour", "red"),  # unknown key
    ("failures = 3", "failures = 3\nmin_classes = 2", "event", "min_classes"),  # a rule across keys
])
def test_bad_values_are_named(tmp_path, old, new, key, value):
    path = tmp_path / "bad.toml"
    path.write_text(GOOD.replace(old, new))
    with pytest.raises(UserError) as err:
        load_definition_file(path)
    message = str(err.value)
    assert str(path) in message and key in message and value in message


def test_missing_required_keys_and_bad_toml(tmp_path):
    path = tmp_path / "empty.toml"
    path.write_text('id = "x"\n')
    with pytest.raises(UserError, match="title"):
        load_definition_file(path)
    path.write_text("id = \n")
    with pytest.raises(UserError, match="not valid TOML"):
        load_definition_file(path)
    with pytest.raises(UserError, match="does not exist"):
        load_definition_file(tmp_path / "nowhere.toml")


def test_unknown_id_and_duplicate_id():
    with pytest.raises(UserError, match="no shipped definition 'maudsly'"):
        resolve_definitions(["maudsly"])
    with pytest.raises(UserError, match="given twice"):
        resolve_definitions(["maudsley", "maudsley"])


def test_cli_bad_file_one_message_no_traceback_nothing_written(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(GOOD.replace("failures = 3", "failures = 99"))
    out = tmp_path / "out"
    proc = run_trdpath("compare", "--data", str(tmp_path / "nodata"), "--out", str(out),
                       "--definitions", str(bad))
    assert proc.returncode == 2
    assert "event.failures" in proc.stderr and "99" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not out.exists()


def test_cli_list_names_every_definition():
    proc = run_trdpath("definitions", "list")
    assert proc.returncode == 0, proc.stderr
    ids = [line.split("\t")[0] for line in proc.stdout.splitlines()]
    assert sorted(ids) == sorted(SPEC_IDS)
