"""Python API of early identification: the worklist as of a date (and, in backtest.py, over many dates)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd

from trdpath.sources.open import open_source as opened_extract  # the one way a command opens --data
from trdpath import __version__
from trdpath.config import StudyConfig
from trdpath.errors import UserError
from trdpath.atomic import replace_folder
from trdpath.early.incremental import STATE
from trdpath.output import check_output
from trdpath.cohort.index_date import extract_date_range


def default_as_of(con, extract, config: StudyConfig) -> dt.date:
    """The index date classify would use: the configured one, else the latest date in the extract."""
    if config.study.index_date:
        return config.study.index_date
    latest = extract_date_range(con, extract)[2]
    if latest is None:
        raise UserError("The extract has no dates at all, so no as-of date can be set; give --as-of.")
    return latest


def worklist_on(con, extract, config: StudyConfig, as_of: dt.date | None = None, rules=None, settings=None):
    """(worklist DataFrame, as_of, Timeline) on an opened extract."""
    from trdpath.early.timeline import build_timeline
    from trdpath.early.worklist import load_rules, worklist_frame

    as_of = as_of or default_as_of(con, extract, config)
    timeline = build_timeline(con, extract, config, as_of)
    return worklist_frame(timeline, extract, as_of, rules or load_rules(), settings), as_of, timeline


def incremental_worklist(con, extract, config: StudyConfig, as_of: dt.date | None, rules, settings,
                         previous: Path, staging: Path):
    """(worklist DataFrame, as_of, Timeline, Refresh): the worklist from the state kept in `previous`
    (when usable) updated with the records changed since, the new state written into `staging`."""
    from trdpath.early.incremental import refreshed_worklist

    as_of = as_of or default_as_of(con, extract, config)
    frame, timeline, refresh = refreshed_worklist(con, extract, config, as_of, previous if previous.is_dir() else None,
                                                  staging, rules, settings)
    return frame, as_of, timeline, refresh


def worklist(data: str | Path, out: str | Path, as_of: dt.date | None = None, config: StudyConfig | None = None,
             backend: str | None = None, rules_path: Path | None = None, settings=None,
             fhir_stage2: bool = False, cohort_url: str | None = None, cohort_definition_id: int = 1,
             incremental: bool = False, overwrite: bool = False, formats: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Compute the worklist as of `as_of` and write worklist.csv/.xlsx/.html, flags.ndjson into `out`
    atomically (`formats`: those of outputs.FORMATS to write, default all); with `cohort_url`, also
    write the OMOP cohort table there (cohort.py). `incremental`:
    keep the state in OUT/state and, when a usable one is there, recompute only the patients whose
    records changed since (incremental.py); the worklist is the same as without."""
    from trdpath.early.cohort import cohort_rows, cohort_target, write_cohort
    from trdpath.early.fhir import write_flags
    from trdpath.early.outputs import FORMATS, parse_formats, write_worklist
    from trdpath.early.worklist import load_rules

    config = config or StudyConfig()
    formats = parse_formats(None if formats is None else ",".join(formats))
    if fhir_stage2 and "fhir" not in formats:
        raise UserError("--flag-stage2 adds stage 2 to the FHIR Flags, but --formats leaves out fhir: "
                        "add fhir to --formats or drop --flag-stage2.")
    check_output(data, out, overwrite, [("--rules", rules_path)])
    rules = load_rules(rules_path)
    target = cohort_target(cohort_url) if cohort_url else None  # a bad target stops before any work
    with opened_extract(data, config, backend) as (con, extract):
        if not incremental:
            frame, as_of, timeline = worklist_on(con, extract, config, as_of, rules, settings)
            refresh = None
            if target is not None:
                write_cohort(target[0], target[1], cohort_rows(timeline, as_of, cohort_definition_id))
        with replace_folder(Path(out)) as folder:  # the whole output folder swapped in at once (trdpath.atomic)
            if incremental:
                # State and worklist are staged together: a kill leaves the old pair or the new one.
                frame, as_of, timeline, refresh = incremental_worklist(con, extract, config, as_of, rules, settings,
                                                                       Path(out) / STATE, folder / STATE)
                try:
                    if target is not None:
                        write_cohort(target[0], target[1], cohort_rows(timeline, as_of, cohort_definition_id))
                finally:
                    timeline.con.disconnect()  # the state database closed before its folder is swapped in
            write_worklist(frame, folder, as_of, formats=formats)
            if "fhir" in formats:
                write_flags(frame, folder / "flags.ndjson", as_of, include_stage2=fhir_stage2)
            meta = {"trdpath_version": __version__, "as_of": str(as_of), "source": extract.source,
                    "rules": rules.path, "patients": len(frame), "files": [FORMATS[f] for f in formats],
                    "refresh": refresh.as_dict() if refresh else None,
                    "note": "Patient-level: stays inside the secure environment. Not a medical device."}
            if refresh is not None:
                frame.attrs["refresh"] = f"{refresh.mode}, {refresh.reason}"
            (folder / "worklist.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return frame
