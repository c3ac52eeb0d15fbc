"""Incremental worklist: a daily or weekly refresh that recomputes only the patients whose records changed.

The worklist as of D (worklist.py) is a function of each patient's records dated by D, evaluated on D.
The timeline (timeline.py) gives every event the first day on which it is known, so a timeline built
from the records dated by D1 with its exposures *not* cut at D1 (cut at a far horizon instead) gives,
evaluated on any later D2, what a full build on D2 gives for every patient with no record dated in
(D1, D2] and none changed by D1 (as the backtest evaluates one timeline on many dates). So the state
keeps that timeline, the dose events, the contacts and a fingerprint of each patient's records; a
refresh on D2:

1. fingerprints each patient's records dated by D2, in the engine (a sum of row hashes per patient,
   two independent 20-bit parts and a count: a late-entered or corrected old record changes it too);
2. rebuilds the timeline of the patients whose fingerprint differs from the state's (new events,
   corrections, new patients) from their records alone, and drops the patients no longer in the extract;
3. swaps their rows into the kept tables (in DuckDB, over Parquet) and evaluates the whole worklist on
   D2 from them: the evaluation is joins and aggregates over the few events per patient, no window
   over the exposures.

State and worklist are written together through trdpath.atomic.replace_folder: a kill at any instant
leaves the previous worklist and its state, or the new ones. A state made with another configuration,
reference data, backend or state format, or after D2, is not used: the run rebuilds it in full (and
says why in worklist.json).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import ibis
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from trdpath.config import StudyConfig
from trdpath.early.timeline import Timeline, build_timeline
from trdpath.early.worklist import contacts_as_of, dose_events
from trdpath.reference import ReferenceData
from trdpath.sources import Extract
from trdpath.treatment.drug_names import DrugDictionary

STATE = "state"  # OUT/state/: patient-level, like the worklist itself
STATE_JSON = "state.json"
STATE_FORMAT = 2
PARTS = ("wl_patients", "wl_drugs", "wl_trials")  # worklist_parts as of the state's date
# Exposures are cut here, not at the as-of date, so later as-of dates can be evaluated on the state.
HORIZON = dt.date(2999, 12, 31)
TIMELINE_TABLES = ("patients", "exposures", "eras", "trials", "episode_opens", "augments")
# Every kept table has pkey, except the contacts (patient_id) and the fingerprints (patient_id).
KEYED_BY_PATIENT_ID = ("contacts", "fingerprints")
DATED = {"prescriptions": "start_date", "diagnoses": "date", "referrals": "date"}
PRIMES = (1_048_573, 1_048_571)  # two 20-bit parts of each row hash (collision ~2^-40 per changed patient)


@dataclass
class Refresh:
    """What a worklist run did with the state: 'full' (and why) or 'incremental' with its counts."""

    mode: str
    reason: str
    previous_as_of: str | None = None
    patients: int = 0
    recomputed: int = 0
    removed: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def records_up_to(extract: Extract, as_of: dt.date) -> Extract:
    """The extract as it stood on `as_of`: dated records up to it (patients whole, notes left out)."""
    lit = ibis.literal(as_of, "date")
    cut = {name: getattr(extract, name).filter(getattr(extract, name)[column] <= lit)
           for name, column in DATED.items() if getattr(extract, name) is not None}
    return Extract(patients=extract.patients, diagnoses=cut["diagnoses"], prescriptions=cut["prescriptions"],
                   referrals=cut.get("referrals"), notes=None, source=extract.source)


def fingerprints(extract: Extract) -> ibis.Table:
    """patient_id, n, a, b: per patient, the number of rows and two sums of row hashes over every
    column of every table (order-free; a duplicated row counts twice, unlike XOR)."""
    parts = []
    for name in ("patients", "prescriptions", "diagnoses", "referrals"):
        table = getattr(extract, name)
        if table is None:
            continue
        text = ibis.literal("\x1f").join([ibis.literal(name)] + [
            table[c].cast("string").fill_null("\x1e") for c in table.columns])
        h = text.hash()
        parts.append(table.select("patient_id", a=(h % PRIMES[0]).cast("int64"),
                                  b=((h // PRIMES[0]) % PRIMES[1]).cast("int64")))
    rows = ibis.union(*parts)
    return rows.group_by("patient_id").agg(n=rows.count(), a=rows.a.sum(), b=rows.b.sum())


def state_key(con, config: StudyConfig, t: Timeline) -> str:
    """What the kept state depends on besides the records: configuration, reference drugs, engine."""
    ingredients = t.ingredients.to_csv(index=False)
    text = json.dumps([STATE_FORMAT, con.name, config.model_dump_json(), ingredients])
    return hashlib.sha256(text.encode()).hexdigest()


def _tables(t: Timeline, up: Extract, as_of: dt.date) -> dict[str, ibis.Table]:
    tables = {name: getattr(t, name) for name in TIMELINE_TABLES}
    tables["doses"] = dose_events(t, up)
    contacts = contacts_as_of(up, as_of)
    if contacts is not None:
        tables["contacts"] = contacts
    return tables


def _arrow(con, table: ibis.Table) -> pa.Table:
    return con.to_pyarrow(table)


def _unify(table: pa.Table) -> pa.Table:
    """Keys as int64 whatever the engine gave (pkey is int32 from row_number on DuckDB)."""
    for i, field in enumerate(table.schema):
        if field.name == "pkey" and field.type != pa.int64():
            table = table.set_column(i, "pkey", table.column(i).cast(pa.int64()))
    return table


def read_state(folder: Path) -> dict | None:
    """The state's metadata, or None where there is no usable state."""
    try:
        meta = json.loads((folder / STATE_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("format") != STATE_FORMAT:
        return None
    names = [*TIMELINE_TABLES, "doses", "fingerprints", *PARTS, "next_change"] + (["contacts"] if meta.get("contacts") else [])
    if not all((folder / f"{n}.parquet").is_file() for n in names):
        return None
    return meta


def refreshed_timeline(con, extract: Extract, config: StudyConfig, as_of: dt.date, previous: Path | None,
                       staging: Path):
    """Write the state for `as_of` into `staging` (from `previous` where usable) and return
    (Timeline over it in a local DuckDB, doses, contacts, Refresh)."""
    from trdpath import engines  # the state is evaluated in DuckDB whatever engine read the extract

    staging.mkdir(parents=True, exist_ok=True)
    now = records_up_to(extract, as_of)
    fp_now = _arrow(con, fingerprints(now))
    meta = read_state(previous) if previous is not None else None
    key = None
    local = engines.connect("duckdb")

    reason = "no state kept in the results folder"
    if meta is not None:
        if dt.date.fromisoformat(meta["as_of"]) > as_of:
            reason = f"the state is as of {meta['as_of']}, after {as_of}"
        elif meta.get("source") != extract.source:
            reason = "the state was made from another extract location"
        elif bool(meta.get("contacts")) != (extract.referrals is not None):
            reason = "the extract gained or lost its referrals table"
        else:
            reason = ""
    if reason == "":
        old_fp = local.read_parquet(str(previous / "fingerprints.parquet"))
        new_fp = local.create_table("fp_now", fp_now, temp=True)
        joined = new_fp.outer_join(old_fp, new_fp.patient_id == old_fp.patient_id)
        changed = joined.filter(joined.patient_id.isnull() | joined.patient_id_right.isnull()
                                | (joined.n != joined.n_right) | (joined.a != joined.a_right) | (joined.b != joined.b_right))
        changed = local.to_pyarrow(changed.select(now_id=changed.patient_id, old_id=changed.patient_id_right))
        touched = [p for p in changed.column("now_id").to_pylist() if p is not None]
        removed = [p for p, q in zip(changed.column("old_id").to_pylist(), changed.column("now_id").to_pylist())
                   if p is not None and q is None]
        ids = ibis.memtable(pa.table({"patient_id": pa.array(touched, pa.string())}))
        sub = Extract(**{name: (getattr(now, name).semi_join(ids, "patient_id") if getattr(now, name) is not None else None)
                         for name in ("patients", "diagnoses", "prescriptions", "referrals")},
                      notes=None, source=extract.source)
        t_sub = build_timeline(con, sub, config, HORIZON)
        key = state_key(con, config, t_sub)
        if meta.get("key") != key:
            reason = "the configuration, reference data or engine differ from the state's"
        else:
            pulled = {name: _unify(_arrow(con, table)) for name, table in _tables(t_sub, sub, as_of).items()}
            gone_keys, offset = _merge(local, previous, staging, pulled, touched, removed, meta)
            refresh = Refresh("incremental", f"records changed for {len(touched):,} patient(s) since {meta['as_of']}",
                              meta["as_of"], fp_now.num_rows, len(touched), len(removed))
    else:
        gone_keys, offset = None, None
    if reason:
        t_full = build_timeline(con, now, config, HORIZON)
        key = state_key(con, config, t_full)
        for name, table in _tables(t_full, now, as_of).items():
            pq.write_table(_unify(_arrow(con, table)), staging / f"{name}.parquet")
        refresh = Refresh("full", reason, meta["as_of"] if meta else None, fp_now.num_rows, fp_now.num_rows, 0)
    pq.write_table(fp_now, staging / "fingerprints.parquet")
    has_contacts = (staging / "contacts.parquet").is_file()
    (staging / STATE_JSON).write_text(json.dumps({
        "format": STATE_FORMAT, "as_of": str(as_of), "source": extract.source, "key": key,
        "contacts": has_contacts,
        "note": "Patient-level state of the incremental worklist: stays inside the secure environment."},
        indent=2), encoding="utf-8")
    t, doses, contacts = _open_state(local, staging, config, has_contacts)
    return t, doses, contacts, refresh, (None if reason else (previous, gone_keys, offset))


def refreshed_worklist(con, extract: Extract, config: StudyConfig, as_of: dt.date, previous: Path | None,
                       staging: Path, rules, settings):
    """(worklist, Timeline, Refresh): the state refreshed (refreshed_timeline), then the engine's
    worklist parts recomputed only for the changed patients and for those whose next change day
    (worklist.next_change) has come; the others' parts are the kept ones, and the rows of all are
    written from the parts on `as_of` (day counts, care window, inertia: _assemble)."""
    import pandas as pd

    from trdpath.early.worklist import WorklistSettings, _assemble, next_change, worklist_parts

    t, doses, contacts, refresh, kept = refreshed_timeline(con, extract, config, as_of, previous, staging)
    local = t.con
    if kept is None:  # full: every patient's parts
        parts = [local.execute(part) for part in worklist_parts(t, doses, contacts, as_of)]
        changes = local.to_pyarrow(next_change(t, as_of))
    else:
        previous, gone_keys, offset = kept
        d = ibis.literal(_day(as_of), "int64")
        old_next = local.read_parquet(str(previous / "next_change.parquet"))
        gone = local.create_table("gone_keys", gone_keys, temp=True)
        due = old_next.filter(old_next.next_day <= d).anti_join(gone, "pkey").select("pkey")
        fresh_keys = t.patients.filter(t.patients.pkey >= offset).select(pkey=t.patients.pkey.cast("int64"))
        redo = local.create_table("redo_keys", local.to_pyarrow(ibis.union(due, fresh_keys).distinct()), temp=True)
        sub = Timeline(local, config, t.last_date, *(getattr(t, n).semi_join(redo, "pkey") for n in TIMELINE_TABLES),
                       t.ingredients, None)
        fresh = [local.execute(part) for part in worklist_parts(sub, doses.semi_join(redo, "pkey"), contacts, as_of)]
        parts = []
        for name, frame in zip(PARTS, fresh):
            old = local.read_parquet(str(previous / f"{name}.parquet"))
            old = local.execute(old.anti_join(gone, "pkey").anti_join(redo, "pkey"))
            both = [f for f in (old, frame) if len(f)]
            parts.append(pd.concat(both, ignore_index=True) if len(both) == 2 else (both[0] if both else frame))
        old_next = old_next.anti_join(gone, "pkey").anti_join(redo, "pkey")
        changes = pa.concat_tables([local.to_pyarrow(old_next), local.to_pyarrow(next_change(sub, as_of))])
        refresh.reason += f"; {local.execute(redo.count()):,} patient(s) re-evaluated"
    for name, frame in zip(PARTS, parts):
        frame.to_parquet(staging / f"{name}.parquet", index=False)
    pq.write_table(changes, staging / "next_change.parquet")
    frame = _assemble(*parts, t, as_of, rules, settings or WorklistSettings())
    return frame, t, refresh


def _day(date: dt.date) -> int:
    from trdpath.early.timeline import day_number

    return day_number(date)


def _merge(local, previous: Path, staging: Path, pulled: dict[str, pa.Table], touched: list[str],
           removed: list[str], meta: dict) -> None:
    """Kept tables without the touched and removed patients, plus the touched patients' new rows
    (their pkeys moved past the kept ones so that keys stay unique)."""
    gone = local.create_table("gone_ids", pa.table({"patient_id": pa.array(touched + removed, pa.string())}), temp=True)
    old_patients = local.read_parquet(str(previous / "patients.parquet"))
    gone_keys = old_patients.semi_join(gone, "patient_id").select("pkey")
    offset = int(local.execute(old_patients.pkey.max().fill_null(-1))) + 1  # row_number keys start at 0
    for name in (*TIMELINE_TABLES, "doses", "contacts"):
        fresh = pulled.get(name)
        if fresh is None:
            continue
        if "pkey" in fresh.column_names:
            i = fresh.column_names.index("pkey")
            fresh = fresh.set_column(i, "pkey", pc.add(fresh.column(i), offset))
        old = local.read_parquet(str(previous / f"{name}.parquet"))
        kept = old.anti_join(gone, "patient_id") if name in KEYED_BY_PATIENT_ID else old.anti_join(gone_keys, "pkey")
        kept = local.to_pyarrow(kept)
        fresh = fresh.select(kept.column_names).cast(kept.schema)
        pq.write_table(pa.concat_tables([kept, fresh]), staging / f"{name}.parquet")
    return local.to_pyarrow(gone_keys), offset


def _open_state(local, folder: Path, config: StudyConfig, has_contacts: bool):
    read = {name: local.read_parquet(str(folder / f"{name}.parquet")).cache() for name in (*TIMELINE_TABLES, "doses")}
    ingredients = DrugDictionary(ReferenceData(config)).ingredient_table()
    t = Timeline(local, config, HORIZON, read["patients"], read["exposures"], read["eras"], read["trials"],
                 read["episode_opens"], read["augments"], ingredients, None)
    contacts = local.read_parquet(str(folder / "contacts.parquet")) if has_contacts else None
    return t, read["doses"], contacts
