"""Classify many small extracts with one engine run: for engines too slow to run each case alone.

A Spark classification of even a one-patient extract takes 10-20 s (dozens of small Spark jobs), so
running each of the ~54 spec tests and each Hypothesis example alone on Spark would take far too
long. Classification is per patient, so many independent cases can be classified at once: their
tables are concatenated with every patient_id prefixed by the case's number (``"7|1"`` is patient
``1`` of case 7), the merged extract is classified once, and each case gets back its own rows with
the prefix removed.

Only two things are shared by all patients of a run, so only cases that agree on them share a run
(:func:`batch_key`):

- the configuration (thresholds, policies): compared as ``config.model_dump_json()``;
- the index date. When neither the test nor the configuration gives one, it is the latest date in
  the extract (study-definition.md 1). Merging extracts whose latest dates differ would move it, so such a
  case shares a run only with cases that also leave the index date to the engine and whose latest
  date (worked out by the reference, ``trdpath.in_memory.default_index_date``) is the same day:
  the merged extract's latest date is then that day too. The engine still finds it on its own
  (the run gets no index date). One assumption remains: an engine that found a wrong latest date
  for one case could be corrected by another case's dates in the same batch. The spec test about
  the latest date (test_default_index_date_is_latest_date) has a day of its own, so it runs alone;
  to run every such case alone, make batch_key return None for them (17 -> 27 Spark runs).

The tables present are part of the key too (an absent referrals table and one without rows for a
patient are different inputs). tests/spec/test_batching.py shows on DuckDB that every spec case
classified in a batch gives exactly what it gives alone, on every column.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from trdpath.config import StudyConfig
from trdpath.in_memory import default_index_date

SEPARATOR = "|"  # between the case number and the case's own patient_id


@dataclass(eq=False)  # cases are compared by identity (their tables are DataFrames)
class Case:
    """One classification to make: raw tables (the data contract's columns), configuration, index date."""

    tables: Mapping[str, pd.DataFrame]
    config: StudyConfig | None = None
    index_date: dt.date | None = None
    label: str = ""  # where the case comes from (a test name), for messages
    result: pd.DataFrame | None = field(default=None, repr=False)  # filled by classify_in_batches
    error: Exception | None = field(default=None, repr=False)  # or this, when its batch failed

    def patients(self) -> pd.DataFrame:
        """The case's own patients table (raises its batch's error if the batch failed)."""
        if self.error is not None:
            raise RuntimeError(f"the batch with {self.label or 'this case'} failed: {self.error}") from self.error
        return self.result


def batch_key(case: Case) -> tuple | None:
    """Cases with equal keys can be classified in one run; None: the case must run on its own."""
    config = case.config or StudyConfig()
    index_date = case.index_date or config.study.index_date
    if index_date is not None:
        return config.model_dump_json(), "given", index_date, tuple(sorted(case.tables))
    latest = default_index_date(case.tables)  # what the engine must find: same day, same batch
    if latest is None:  # no dates at all: the engine refuses it; let it do so on its own
        return None
    return config.model_dump_json(), "latest date", latest, tuple(sorted(case.tables))


def group_cases(cases: Sequence[Case]) -> list[list[Case]]:
    """The cases, grouped into batches (each a list of cases that may share one run), in order."""
    batches: dict[object, list[Case]] = {}
    for number, case in enumerate(cases):
        key = batch_key(case)
        batches.setdefault(("alone", number) if key is None else key, []).append(case)
    return list(batches.values())


def merge_tables(cases: Sequence[Case]) -> dict[str, pd.DataFrame]:
    """One extract holding every case's rows, patient_id prefixed with the case's number."""
    merged = {}
    for name in cases[0].tables:
        frames = []
        for number, case in enumerate(cases):
            frame = case.tables[name].copy()
            frame["patient_id"] = [f"{number}{SEPARATOR}{patient_id}" for patient_id in frame["patient_id"]]
            frames.append(frame)
        # Columns one case gives and another does not are missing (None) for the other's rows.
        merged[name] = pd.concat(frames, ignore_index=True)
    return merged


def split_result(patients: pd.DataFrame, count: int) -> list[pd.DataFrame]:
    """The merged run's patients table cut back into the cases' own tables, original patient_ids."""
    prefixed = patients["patient_id"].astype(str).str.partition(SEPARATOR)  # columns 0: case, 2: own id
    parts = []
    for number in range(count):
        rows = (prefixed[0] == str(number)).to_numpy()
        part = patients[rows].copy()
        part["patient_id"] = prefixed[2][rows].to_numpy()
        parts.append(part.reset_index(drop=True))
    return parts


Classify = Callable[..., pd.DataFrame]  # (tables, config=..., index_date=...) -> patients table


def classify_in_batches(classify: Classify, cases: Sequence[Case]) -> list[Case]:
    """Classify every case, one `classify` call per batch, and set each case's ``result`` (or, when
    its batch raised, ``error``: the other batches still run). Returns the cases."""
    for batch in group_cases(cases):
        first = batch[0]
        try:
            if len(batch) == 1:  # nothing to merge: classify it exactly as given
                first.result = classify(first.tables, config=first.config, index_date=first.index_date)
                continue
            patients = classify(merge_tables(batch), config=first.config, index_date=first.index_date)
        except Exception as error:  # noqa: BLE001 - reported by each case's own test
            for case in batch:
                case.error = error
            continue
        for case, result in zip(batch, split_result(patients, len(batch))):
            case.result = result
    return list(cases)
