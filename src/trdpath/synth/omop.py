"""`trdpath synth --format omop`: a synthetic OMOP CDM shaped like the ones hospitals hold (issue 13).

The patients are the calibrated synthetic flat extract (trdpath.synth.writer), converted by
trdpath.sources.omop_export.flat_to_omop, then given the traits of a real CDM that trip a reader:

- person_id is a 64-bit hashed integer (:func:`hashed_person_id`), negative half the time; the trust's
  own id stays in person_source_value;
- condition source codes are a mix of ICD-10 and ICD-9-CM: every other row whose code is in an
  exclusion or comorbidity list is written as an ICD-9-CM code in exactly the same lists (depression
  codes stay ICD-10, as the paper's definition needs), and every other unlisted code as an ICD-9-CM V code;
- with a vocabulary, drug exposures named through their concept carry an NDC product code as
  drug_source_value, and the vocabulary is a subset: with concept_ancestor (`vocabulary="full"`) or
  without it (`"no-ancestor"`), or none at all (`"none"`);
- NDC-only exposures (drug_concept_id 0) of drugs outside the study's lists, which nothing can name;
- a note table with a header and no notes.

None of these changes a patient's classification: the same extract as a flat folder (with the hashed
ids as patient_id, :func:`flat_equivalent`) must give an identical patients.csv (tests/synth).
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from trdpath.cohort.code_lists import ICD9CM, ICD10, in_code_list, normalised_codes
from trdpath.config import StudyConfig
from trdpath.errors import UserError
from trdpath.reference import ReferenceData
from trdpath.schema import TABLES

VOCABULARIES = ("full", "no-ancestor", "none")
# ICD-9-CM codes the converter may write, each standing for the ICD-10 codes in exactly the same lists.
ICD9_CANDIDATES = (
    "295.30", "298.9", "297.1", "296.44", "296.7", "290.0", "331.0", "294.8", "310.1", "332.0", "345.90",
    "340", "291.81", "303.90", "305.00", "304.00", "305.20", "304.10", "305.1", "304.90", "292.0",
    "300.02", "300.21", "309.81", "307.1", "307.51", "301.83", "E950.0", "299.00", "315.9", "250.00",
    "250.01", "249.00", "401.9", "493.90", "530.81",
)
UNLISTED_ICD9 = "V62.84"  # a V code: ambiguous without the vocabulary, in no list either way
# Drugs outside the study's lists, as NDC-only exposures (omeprazole, metformin, atorvastatin).
NOISE_NDC = ("00093-7347-56", "00378-0234-01", "00071-0155-23")


def hashed_person_id(patient_id: str) -> int:
    """A signed 64-bit id from the trust's id, as hashing ETLs make them (BLAKE2b, first 8 bytes)."""
    digest = hashlib.blake2b(str(patient_id).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _fake_ndc(concept_id: int) -> str:
    """An NDC-shaped product code (5-4-2 digits) for a drug concept: stable, not a real product."""
    number = int(hashlib.blake2b(str(concept_id).encode(), digest_size=6).hexdigest(), 16) % 10**11
    text = f"{number:011d}"
    return f"{text[:5]}-{text[5:9]}-{text[9:]}"


def _lists_of(codes: pd.Series, reference: ReferenceData, system: str, lists: list[str]) -> list[frozenset]:
    normal = normalised_codes(codes.astype(str))
    member = {name: in_code_list(normal, reference.code_ranges(name, system)) for name in lists}
    return [frozenset(name for name in lists if member[name].iloc[i]) for i in range(len(codes))]


def _icd9_for(reference: ReferenceData, lists: list[str]) -> dict[frozenset, str]:
    """List set -> the first candidate ICD-9-CM code with exactly that set."""
    sets = _lists_of(pd.Series(ICD9_CANDIDATES), reference, ICD9CM, lists)
    out: dict[frozenset, str] = {}
    for code, found in zip(ICD9_CANDIDATES, sets):
        out.setdefault(found, code)
    return out


def realistic_cdm(flat: dict[str, pd.DataFrame], vocabulary: str = "full",
                  config: StudyConfig | None = None) -> dict[str, pd.DataFrame]:
    """The flat tables as a CDM with the traits listed in the module docstring."""
    from trdpath.sources.omop_export import flat_to_omop

    if vocabulary not in VOCABULARIES:
        raise UserError(f"--vocabulary must be one of {', '.join(VOCABULARIES)}, not {vocabulary!r}.")
    config = config or StudyConfig()
    reference = ReferenceData(config)
    flat = {name: frame for name, frame in flat.items() if name != "notes"}
    omop = flat_to_omop(flat, config, vocabulary=vocabulary != "none")

    # 64-bit hashed person ids everywhere.
    person = omop["person"]
    new_id = dict(zip(person["person_id"], person["person_source_value"].map(hashed_person_id)))
    for frame in omop.values():
        if "person_id" in frame.columns:
            frame["person_id"] = frame["person_id"].map(new_id).astype("int64")

    # Mixed ICD-10 / ICD-9-CM source codes (exclusions and comorbidities only, every other row).
    from trdpath.cohort.exclusions import EXCLUSION_LISTS
    from trdpath.reference import COMORBIDITY_FLAGS

    lists = list(dict.fromkeys(["depression", "recurrent_depression", "psychotic_symptoms", *EXCLUSION_LISTS,
                                *COMORBIDITY_FLAGS]))
    co = omop["condition_occurrence"]
    icd10_sets = _lists_of(co["condition_source_value"].fillna(""), reference, ICD10, lists)
    icd9_of = _icd9_for(reference, lists)
    depression = {"depression", "recurrent_depression", "psychotic_symptoms"}
    converted = []
    for i, found in enumerate(icd10_sets):
        code = None
        if i % 2 == 0 and not (found & depression):
            code = icd9_of.get(found) if found else UNLISTED_ICD9
        converted.append(code)
    converted = pd.Series(converted, index=co.index, dtype=object)
    swap = converted.notna()
    co.loc[swap, "condition_source_value"] = converted[swap]
    if vocabulary != "none":
        concept = omop["concept"]
        icd9_codes = sorted(set(converted[swap]))
        base = int(concept["concept_id"].max()) + 1
        icd9_ids = {code: base + i for i, code in enumerate(icd9_codes)}
        valid = {"valid_start_date": pd.Timestamp("1970-01-01").date(), "valid_end_date": pd.Timestamp("2099-12-31").date(),
                 "invalid_reason": None}
        extra = pd.DataFrame([{"concept_id": cid, "concept_name": f"ICD-9-CM {code}", "domain_id": "Condition",
                               "vocabulary_id": "ICD9CM", "concept_class_id": "4-dig billing code",
                               "standard_concept": None, "concept_code": code, **valid}
                              for code, cid in icd9_ids.items()])
        omop["concept"] = pd.concat([concept, extra], ignore_index=True)
        co.loc[swap, "condition_source_concept_id"] = converted[swap].map(icd9_ids).astype("int64")

    # NDC product codes as the source value of exposures named through their concept (vocabulary only:
    # without one, the "NN mg" in the source value is where the dose comes from).
    de = omop["drug_exposure"]
    if vocabulary != "none":
        named = (de["drug_concept_id"] != 0) & (np.arange(len(de)) % 2 == 0)
        de.loc[named, "drug_source_value"] = de.loc[named, "drug_concept_id"].map(_fake_ndc)
    # NDC-only exposures of unlisted drugs, on dates each patient already has (the index date stays).
    noise = de.iloc[::3][["person_id", "drug_exposure_start_date", "drug_exposure_end_date"]].copy()
    noise["drug_concept_id"] = 0
    noise["drug_source_value"] = [NOISE_NDC[i % len(NOISE_NDC)] for i in range(len(noise))]
    noise["drug_type_concept_id"] = de["drug_type_concept_id"].iloc[0] if len(de) else 0
    noise["days_supply"] = 30
    noise["quantity"] = 30.0
    noise["drug_exposure_id"] = np.arange(len(de) + 1, len(de) + len(noise) + 1, dtype="int64")
    omop["drug_exposure"] = pd.concat([de, noise[de.columns]], ignore_index=True)

    # A note table with no notes (common: notes are held elsewhere or not released).
    omop["note"] = pd.DataFrame({column: pd.Series([], dtype=dtype) for column, dtype in (
        ("note_id", "int64"), ("person_id", "int64"), ("note_date", "datetime64[us]"), ("note_type_concept_id", "int64"),
        ("note_text", "string"), ("note_source_value", "string"))})
    if vocabulary == "no-ancestor":
        omop.pop("concept_ancestor", None)
    return omop


def flat_equivalent(flat: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The flat tables with patient_id replaced by the hashed person_id and a header-only notes table:
    what the CDM of :func:`realistic_cdm` holds, in the data contract's form."""
    out = {}
    for name, frame in flat.items():
        if name == "notes" or name not in TABLES:
            continue
        frame = frame.copy()
        frame["patient_id"] = frame["patient_id"].map(lambda v: str(hashed_person_id(v)))
        out[name] = frame
    out["notes"] = pd.DataFrame(columns=list(TABLES["notes"]["required"]))
    return out


def read_flat_folder_frames(folder: Path) -> dict[str, pd.DataFrame]:
    """The contract tables of a synthetic CSV extract as text frames."""
    return {path.stem: pd.read_csv(path, dtype=str, keep_default_na=False)
            for path in sorted(Path(folder).glob("*.csv")) if path.stem in TABLES}


def generate_omop(out_dir: Path, n_patients: int, seed: int = 0, file_format: str = "csv",
                  vocabulary: str = "full", overwrite: bool = False) -> dict[str, int]:
    """Write the realistic synthetic CDM into `out_dir` (CSV or Parquet); row counts per table."""
    from trdpath.sources.omop_export import write_omop_folder
    from trdpath.synth.writer import generate

    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite and not (out_dir / "synth.json").is_file() \
            and not (out_dir / "person.csv").is_file() and not (out_dir / "person.parquet").is_file():
        raise UserError(f"Output folder {out_dir} is not empty and was not written by trdpath synth; "
                        "choose another folder or pass --overwrite.")
    work = Path(tempfile.mkdtemp(prefix="trdpath-synth-omop-"))
    try:
        generate(work / "flat", n_patients, seed=seed, fmt="csv", notes=False)
        omop = realistic_cdm(read_flat_folder_frames(work / "flat"), vocabulary)
        write_omop_folder(omop, out_dir, file_format)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {name: len(frame) for name, frame in omop.items()}
