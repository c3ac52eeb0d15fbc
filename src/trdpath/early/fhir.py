"""FHIR `Flag` resources for the record: TRD and, if asked, stage 2 (two failed adequate trials).

Built and validated with the `fhir.resources` models. Its R4B package is used: FHIR R4B changed no
element of Flag from R4 (4.0.1), so these resources are valid R4 Flags. The evidence (the reasons
a clinician can check) and the suggested next step travel as extensions; R4 Flag has no `note`.
"""

from __future__ import annotations

import datetime as dt
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


def flag_resource(row: dict, as_of: dt.date) -> Flag:
    """One validated Flag for a worklist row (stage TRD or 2)."""
    code, display = STAGE_CODES[row["stage"]]
    start = row["trd_date"] if row["stage"] == "TRD" else row.get("last_adequacy_date")
    period = {"start": (start or as_of).isoformat()}
    data = {
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
    return Flag.model_validate(data)


def flag_resources(frame: pd.DataFrame, as_of: dt.date, include_stage2: bool = False) -> list[Flag]:
    stages = ["TRD", "2"] if include_stage2 else ["TRD"]
    rows = frame[frame["stage"].isin(stages)].to_dict("records")
    return [flag_resource(row, as_of) for row in rows]


def write_flags(frame: pd.DataFrame, path: Path, as_of: dt.date, include_stage2: bool = False) -> int:
    """flags.ndjson: one Flag per line (FHIR bulk-data NDJSON). Returns the number written."""
    flags = flag_resources(frame, as_of, include_stage2)
    with open(path, "w", encoding="utf-8") as handle:
        for flag in flags:
            handle.write(flag.model_dump_json(exclude_none=True) + "\n")
    return len(flags)
