"""docs/rules.md is generated from the spec tests and must match them."""

import importlib.util
from pathlib import Path


def test_rules_doc_is_current():
    path = Path(__file__).with_name("rules_doc.py")
    spec = importlib.util.spec_from_file_location("rules_doc", path)
    rules_doc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rules_doc)
    rendered = rules_doc.render()
    assert rules_doc.DOC.read_text(encoding="utf-8") == rendered, (
        "docs/rules.md is out of date: run PYTHONPATH=src python tests/spec/rules_doc.py"
    )
    # every spec test appears in the page under its title
    assert rendered.count("\n### ") >= 50
