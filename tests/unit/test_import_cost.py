"""`trdpath classify` does not import the statistics' libraries (issue 15: classify's time against the bare era
query). statsmodels and SciPy took 1-2 s of every `classify` before (trdpath.stats' package import pulled them in
for the extra passes, which use neither); they load when an analysis runs."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("statsmodels", "scipy", "matplotlib")


def _loaded_after(statement: str) -> list[str]:
    code = f"import sys\n{statement}\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.split()


def test_classify_path_imports_no_statistics_library():
    # Everything `trdpath classify` imports on an extract without notes: the CLI, the API, the pipeline,
    # the writers and both extra passes.
    assert _loaded_after("import trdpath.cli, trdpath.api, trdpath.output, trdpath.stats.extract_outputs, "
                         "trdpath.stats.assumptions, trdpath.stats.pathways") == []


def test_analysis_still_loads_them_when_it_runs():
    # The sibling: the analysis itself needs statsmodels (Table 3) and SciPy (the tests of Tables 1-2).
    loaded = _loaded_after("import pandas as pd\nfrom trdpath.stats import Analysis, analyse\n"
                           "import dataclasses\nassert 'sensitivity' in {f.name for f in dataclasses.fields(Analysis)}\n"
                           "from trdpath.stats import regression")
    assert loaded[:2] == ["statsmodels", "scipy"]
