"""The joint-display mapping made with the app's form: a closed list of published findings, the form's fields
turned into the same validated mapping the YAML gives, saved in the project and read back."""

from __future__ import annotations

import pytest
from starlette.datastructures import FormData

from trdpath.errors import UserError
from trdpath.joint.display import build_display
from trdpath.joint.mapping import load_mapping
from trdpath.joint.saved import finding_choices, latest_mapping, latest_yaml, mapping_from_form, save_mapping
from trdpath.qualitative.store import open_project

from .handmade import project, result  # noqa: F401 - fixtures


def test_the_form_offers_exactly_the_published_findings(result):
    labels = [c.label for c in finding_choices(result)]
    # handmade.py: Table 3 terms const, waiting, rare_thing (3); Table 1 rows (4); Table 2 (1); resistance (1);
    # service use (1) = 10, in the tables' order.
    assert labels == ["Table 3: const", "Table 3: waiting", "Table 3: rare_thing", "Table 1: employment_group",
                      "Table 1: employment_group: Employed", "Table 1: employment_group: Economically inactive",
                      "Table 1: age", "Table 2: sedatives", "Resistance levels: resistance_level",
                      "Service use: patients: specialist"]


def _form(choices, **fields) -> FormData:
    waiting = next(c.key for c in choices if c.label == "Table 3: waiting")
    items = [("title", "Team display <b>"), ("coders", "Ann"), ("finding_0", waiting), ("codes_0", "Barriers"),
             ("judgement_0", "expansion"), ("meta_0", "<script>alert(1)</script> waits matter"), ("quotes_0", "3")]
    items += list(fields.items())
    return FormData(items)


def test_form_mapping_saved_read_back_and_the_same_display_as_its_yaml(result, project, tmp_path):
    choices = finding_choices(result)
    mapping = mapping_from_form(_form(choices), choices, rows=8)
    with open_project(project) as qual:
        save_mapping(qual, mapping, "lead")
        again = latest_mapping(qual)
        assert again == mapping
        path = tmp_path / "joint_mapping.yaml"
        path.write_text(latest_yaml(qual), encoding="utf-8")
        from_file = build_display(load_mapping(path), result, qual)  # what `trdpath joint --mapping` would build
        shown = build_display(again, result, qual)
    # The hand-worked protected counts of tests/joint/test_joint.py (coder Ann): 12 participants -> "10 of 20".
    assert shown.rows[0].total == from_file.rows[0].total == "10 of 20"
    assert shown.rows[0].quantitative.effect.startswith("OR 1.42 (95% CI 1.02 to 1.98)")  # Model 2: the last
    assert shown.rows[0].meta_inference == "<script>alert(1)</script> waits matter"  # kept as text (escaped on render)


@pytest.mark.parametrize("field, value, message", [
    ("finding_1", "999", "row 2: that finding is not in the published tables"),
    ("judgement_0", "agreement", "judgement"),
    ("quotes_0", "7", "quotes"),
])
def test_bad_form_values_are_refused_with_the_row(result, field, value, message):
    choices = finding_choices(result)
    form = _form(choices)
    items = [(k, v) for k, v in form.multi_items() if k != field] + [(field, value)]
    if field == "finding_1":
        items += [("codes_1", "Barriers"), ("judgement_1", "convergence"), ("meta_1", "m")]
    with pytest.raises(UserError, match=message):
        mapping_from_form(FormData(items), choices, rows=8)
