"""FHIR `Flag` resources for the record: TRD and, if asked, stage 2 (two failed adequate trials).

Validated with the `fhir.resources` models. Its R4B package is used: FHIR R4B changed no
element of Flag from R4 (4.0.1), so these resources are valid R4 Flags. The evidence (the reasons
a clinician can check) and the suggested next step travel as extensions; R4 Flag has no `note`.

flags.ndjson is written from plain dictionaries (json.dumps: ~0.02 ms a row) rather than by building
and dumping a model per row (~0.4 ms a row: minutes at 1M patients). Every row is the same template
filled with a patient's values; the template varies only in its *shape*: stage code (TRD or stage 2),
subject (literal reference or identifier), period start (the TRD date, the last adequacy date or the
as-of date). So the writer validates with `Flag.model_validate` the first row of every shape, the first
VALIDATE_FIRST rows and every VALIDATE_EVERY-th row after, and checks for each of them that the line
written equals the model's own JSON; a row that fails stops the run. The values themselves (dates,
identifiers, non-empty text) are already checked by the extract's validation.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from pathlib import Path

import pandas as pd
from fhir.resources.R4B.flag import Flag

from trdpath import __version__

CODE_SYSTEM = "urn:trdpath:pathway-stage"
EVIDENCE_URL = "urn:trdpath:fhir:extension:evidence"
NEXT_STEP_URL = "urn:trdpath:fhir:extension:next-step"
PATIENT_ID_SYSTEM = "urn:trdpath:patient-id"
_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_NAMESPACE = uuid.UUID("0b6f1e1c-6a3e-4d7e-9a55-2f1d7f0a3c11")

STAGE_CODES = {
    "TRD": ("trd", "Treatment-resistant depression (Maudsley definition: two failed adequate trials, then a next step)"),
    "2": ("stage-2", "Two failed adequate antidepressant trials in the current episode"),
}


def _subject(patient_id: str) -> dict:
    """A literal reference where the id is a valid FHIR id, else a logical one by identifier."""
    if _FHIR_ID.match(patient_id):
        return {"reference": f"Patient/{patient_id}", "type": "Patient"}
    return {"type": "Patient", "identifier": {"system": PATIENT_ID_SYSTEM, "value": patient_id}}


VALIDATE_FIRST = 1000
VALIDATE_EVERY = 100


def _missing(value) -> bool:
    return value is None or (not isinstance(value, str) and pd.isna(value))


def flag_data(row: dict, as_of: dt.date) -> dict:
    """The Flag for a worklist row (stage TRD or 2) as a plain dictionary (flag_resource validates it)."""
    code, display = STAGE_CODES[row["stage"]]
    start = row["trd_date"] if row["stage"] == "TRD" else row.get("last_adequacy_date")
    period = {"start": (as_of if _missing(start) else start).isoformat()}
    return {
        "resourceType": "Flag",
        "id": str(uuid.uuid5(_NAMESPACE, f"{row['patient_id']}|{code}|{period['start']}")),
        "status": "active",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/flag-category",
                                  "code": "clinical", "display": "Clinical"}]}],
        "code": {"coding": [{"system": CODE_SYSTEM, "code": code, "display": display}], "text": display},
        "subject": _subject(str(row["patient_id"])),
        "period": period,
        "author": {"type": "Device", "display": f"trdpath {__version__} worklist as of {as_of.isoformat()}"},
        "extension": [{"url": EVIDENCE_URL, "valueString": str(row["reasons"])},
                      {"url": NEXT_STEP_URL, "valueString": str(row["next_step"])}],
    }


def flag_resource(row: dict, as_of: dt.date) -> Flag:
    """One validated Flag for a worklist row (stage TRD or 2)."""
    return Flag.model_validate(flag_data(row, as_of))


def _shape(row: dict, data: dict) -> tuple:
    start = "trd" if row["stage"] == "TRD" and not _missing(row["trd_date"]) else \
        "adequacy" if row["stage"] != "TRD" and not _missing(row.get("last_adequacy_date")) else "as_of"
    return row["stage"], "reference" in data["subject"], start


def flag_resources(frame: pd.DataFrame, as_of: dt.date, include_stage2: bool = False) -> list[Flag]:
    stages = ["TRD", "2"] if include_stage2 else ["TRD"]
    rows = frame[frame["stage"].isin(stages)].to_dict("records")
    return [flag_resource(row, as_of) for row in rows]


def write_flags(frame: pd.DataFrame, path: Path, as_of: dt.date, include_stage2: bool = False,
                validate_first: int = VALIDATE_FIRST, validate_every: int = VALIDATE_EVERY) -> int:
    """flags.ndjson: one Flag per line (FHIR bulk-data NDJSON), validated as the module says.
    Returns the number written."""
    stages = ["TRD", "2"] if include_stage2 else ["TRD"]
    columns = ["patient_id", "stage", "trd_date", "last_adequacy_date", "reasons", "next_step"]
    rows = frame.loc[frame["stage"].isin(stages), columns]
    shapes, n = set(), 0
    with open(path, "w", encoding="utf-8") as handle:
        for n, values in enumerate(zip(*(rows[c].tolist() for c in columns)), start=1):
            row = dict(zip(columns, values))
            data = flag_data(row, as_of)
            line = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
            shape = _shape(row, data)
            if n <= validate_first or n % validate_every == 0 or shape not in shapes:
                shapes.add(shape)
                model = Flag.model_validate(data)  # raises on an invalid resource
                if json.loads(model.model_dump_json(exclude_none=True)) != json.loads(line):
                    raise ValueError(f"flags.ndjson row {n}: the line written differs from the validated Flag.")
            handle.write(line + "\n")
    return n
