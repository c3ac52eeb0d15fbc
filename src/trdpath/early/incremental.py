"""Incremental worklist: a daily or weekly refresh that recomputes only the patients whose records changed.

The worklist as of D (worklist.py) is a function of each patient's records dated by D, evaluated on D.
The timeline (timeline.py) gives every event the first day on which it is known, so a timeline built
from the records dated by D1 with its exposures *not* cut at D1 (cut at a far horizon instead) gives,
evaluated on any later D2, what a full build on D2 gives for every patient with no record dated in
(D1, D2] and none changed by D1 (as the backtest evaluates one timeline on many dates). So the state
keeps that timeline, the dose events, the contacts and a fingerprint of each patient's records; a
refresh on D2:

1. fingerprints each patient's records dated by D2, in the engine (a sum of row hashes per patient,
   two 20-bit fields and a count: a late-entered or corrected old record changes it too);
2. picks the changed patients' records once and rebuilds their timeline from them alone, and drops
   the patients no longer in the extract;
3. puts their rows into the kept tables (in DuckDB) under new keys: the large append-only tables
   (APPEND_ONLY) keep a replaced patient's old rows, read by nothing, until COMPACT_SHARE of the
   patients have been replaced (a removed patient's rows go at once); then evaluates the whole
   worklist on D2 from them: the evaluation is joins and aggregates over the few events per patient,
   no window over the exposures.

State and worklist are written together through trdpath.atomic.replace_folder: a kill at any instant
leaves the previous worklist and its state, or the new ones. A state made with another configuration,
reference data, backend or state format, or after D2, is not used: the run rebuilds it in full (and
says why in worklist.json).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import ibis
import pyarrow as pa

from trdpath import engines
from trdpath.config import StudyConfig
from trdpath.early.timeline import Timeline, build_timeline
from trdpath.early.worklist import contacts_as_of, dose_events
from trdpath.reference import ReferenceData
from trdpath.sources import Extract
from trdpath.treatment.drug_names import DrugDictionary

STATE = "state"  # OUT/state/: patient-level, like the worklist itself
STATE_JSON = "state.json"
STATE_FORMAT = 5  # 4: native row hashes in the fingerprints; 5: the rows' fixed parts kept (wl_rows)
STATE_DB = "state.duckdb"
# The fixed parts of each patient's worklist row (assemble.rows_sql) as of the state's date.
PARTS = ("wl_rows",)
# Exposures are cut here, not at the as-of date, so later as-of dates can be evaluated on the state.
HORIZON = dt.date(2999, 12, 31)
TIMELINE_TABLES = ("patients", "exposures", "eras", "trials", "episode_opens", "augments")
# Every kept table has pkey, except the contacts (patient_id) and the fingerprints (patient_id).
KEYED_BY_PATIENT_ID = ("contacts", "fingerprints")
# Append-only tables: a changed patient's new rows come under a new pkey and the old rows stay, read by
# nothing (every evaluation starts from `patients`, which holds only current pkeys). Deleting them would
# touch every row group of the largest tables and make the checkpoint rewrite them (~2.3 s CPU at 1M).
APPEND_ONLY = ("exposures", "eras", "trials", "episode_opens", "augments", "doses")
# When the patients replaced since the last compaction exceed this share of all patients, their old
# rows are deleted (amortised: at 2% a day, one compaction every ~12 daily runs).
COMPACT_SHARE = 0.25
DATED = {"prescriptions": "start_date", "diagnoses": "date", "referrals": "date"}
MASK = (1 << 20) - 1  # two 20-bit fields of each row hash (a collision ~2^-40 per changed patient)


@dataclass
class Refresh:
    """What a worklist run did with the state: 'full' (and why) or 'incremental' with its counts."""

    mode: str
    reason: str
    previous_as_of: str | None = None
    patients: int = 0
    recomputed: int = 0
    removed: int = 0
    # Seconds per phase, wall and this process's CPU (DuckDB's threads included): where a refresh spends.
    timings: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def records_up_to(extract: Extract, as_of: dt.date) -> Extract:
    """The extract as it stood on `as_of`: dated records up to it (patients whole, notes left out)."""
    lit = ibis.literal(as_of, "date")
    cut = {name: getattr(extract, name).filter(getattr(extract, name)[column] <= lit)
           for name, column in DATED.items() if getattr(extract, name) is not None}
    return Extract(patients=extract.patients, diagnoses=cut["diagnoses"], prescriptions=cut["prescriptions"],
                   referrals=cut.get("referrals"), notes=None, source=extract.source)


def _row_hash(con, table: ibis.Table, name: str) -> ibis.Value:
    """A 64-bit hash of each whole row. Where the engine hashes a row natively (DuckDB: HASH of a
    struct of the typed columns, ~4x less CPU than casting every value to text and joining), that;
    else (PostgreSQL hashes text only) the hash of the values as text joined by a unit separator."""
    if engines.capabilities(con).row_hash:
        return ibis.struct({c: table[c] for c in table.columns}).hash()
    text = ibis.literal("\x1f").join([ibis.literal(name)] + [
        table[c].cast("string").fill_null("\x1e") for c in table.columns])
    return text.hash()


def fingerprints(con, extract: Extract) -> ibis.Table:
    """patient_id, n, a, b: per patient, the number of rows and two sums of row hashes over every
    column of every table (order-free; a duplicated row counts twice, unlike XOR)."""
    parts = []
    for name in ("patients", "prescriptions", "diagnoses", "referrals"):
        table = getattr(extract, name)
        if table is None:
            continue
        h = _row_hash(con, table, name)
        # Two 20-bit fields of the hash (bit operations: no division per row; Spark's hash has 32 bits).
        parts.append(table.select("patient_id", a=(h & MASK).cast("int64"), b=((h >> 20) & MASK).cast("int64")))
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
    if not isinstance(meta, dict) or meta.get("format") != STATE_FORMAT or not (folder / STATE_DB).is_file():
        return None
    return meta


def _kept_tables(has_contacts: bool) -> tuple[str, ...]:
    return (*TIMELINE_TABLES, "doses", *(("contacts",) if has_contacts else ()))


def _open_db(path: Path):
    """The state database (ibis DuckDB backend); its tables are updated in place, never rewritten."""
    from trdpath import engines

    local = engines.connect("duckdb", str(path))
    # One checkpoint, at the end (refreshed_worklist): not one more at each COMMIT past 16 MB of log.
    local.con.sql("SET checkpoint_threshold = '4GB'")
    return local


def _state_ok(local, has_contacts: bool) -> bool:
    """Every table of the state is there (a damaged or foreign file: rebuild in full)."""
    try:
        # duckdb_tables() rather than list_tables, which fails in Ibis 12 on DuckDB 2.0.
        names = {row[0] for row in local.con.sql("SELECT table_name FROM duckdb_tables() WHERE NOT temporary").fetchall()}
    except Exception:  # not a DuckDB database at all
        return False
    return set(_kept_tables(has_contacts)) | {"fingerprints", *PARTS, "next_change"} <= names


def _timeline(local, config: StudyConfig) -> Timeline:
    """The kept timeline; the append-only tables narrowed to current keys (see APPEND_ONLY)."""
    ingredients = DrugDictionary(ReferenceData(config)).ingredient_table()
    current = local.table("patients").select("pkey")
    tables = [local.table(name).semi_join(current, "pkey") if name in APPEND_ONLY else local.table(name)
              for name in TIMELINE_TABLES]
    return Timeline(local, config, HORIZON, *tables, ingredients, None)


def _insert(raw, name: str, arrow: pa.Table, offset: int = 0, create: bool = False) -> None:
    """Rows pulled from the extract's engine into table `name` of the state (pkeys moved by `offset`)."""
    raw.register("_incoming", _unify(arrow))
    select = ", ".join(f"pkey + {int(offset)} AS pkey" if c == "pkey" else f'"{c}"' for c in arrow.column_names)
    if create:
        raw.sql(f'CREATE TABLE "{name}" AS SELECT {select} FROM _incoming')
    else:
        raw.sql(f'INSERT INTO "{name}" BY NAME SELECT {select} FROM _incoming')
    raw.unregister("_incoming")


def refreshed_worklist(con, extract: Extract, config: StudyConfig, as_of: dt.date, previous: Path | None,
                       staging: Path, rules, settings):
    """(worklist, Timeline, Refresh). The state database of `previous` is copied into `staging` (a file
    copy, not a rewrite) and updated there in place: the changed patients' rows of every table deleted
    and inserted again from their records alone, the worklist parts recomputed only for them and for the
    patients whose next change day (worklist.next_change) has come. Every row is then written for
    `as_of` by one SQL statement over the kept fixed row parts (assemble.rows_sql, render_sql: the day counts are the as-of
    day minus kept days). The caller closes `Timeline.con` before the staging folder is swapped in."""
    from trdpath.early.assemble import register_lookups, render, rows_sql, summary_sql, to_frame
    from trdpath.early.worklist import WorklistSettings, next_change, worklist_parts

    settings = settings or WorklistSettings()
    staging.mkdir(parents=True, exist_ok=True)
    db = staging / STATE_DB
    now = records_up_to(extract, as_of)
    clock = _Clock()
    fp_now = _arrow(con, fingerprints(con, now))  # four integers per patient: the one pull of the whole extract
    clock.lap("fingerprints")
    meta = read_state(previous) if previous is not None else None
    has_contacts = extract.referrals is not None

    reason = "no state kept in the results folder"
    if meta is not None:
        if dt.date.fromisoformat(meta["as_of"]) > as_of:
            reason = f"the state is as of {meta['as_of']}, after {as_of}"
        elif meta.get("source") != extract.source:
            reason = "the state was made from another extract location"
        elif bool(meta.get("contacts")) != has_contacts:
            reason = "the extract gained or lost its referrals table"
        else:
            reason = ""
    local = None
    if reason == "":
        shutil.copyfile(previous / STATE_DB, db)
        try:
            local = _open_db(db)
        except Exception:  # trdpath.errors.BackendError: not a DuckDB database (damaged)
            local = None
        if local is None or not _state_ok(local, has_contacts):
            if local is not None:
                local.disconnect()
            db.unlink()
            local, reason = None, "no state kept in the results folder"
    key = None
    clock.lap("state copied")
    if reason == "":
        raw = local.con
        raw.register("fp_now", fp_now)
        changed = raw.sql("SELECT n.patient_id AS now_id, o.patient_id AS old_id FROM fp_now n "
                          "FULL OUTER JOIN fingerprints o ON n.patient_id = o.patient_id "
                          "WHERE n.patient_id IS NULL OR o.patient_id IS NULL OR n.n <> o.n OR n.a <> o.a OR n.b <> o.b"
                          ).to_arrow_table()
        touched = [p for p in changed.column("now_id").to_pylist() if p is not None]
        removed = [p for p, q in zip(changed.column("old_id").to_pylist(), changed.column("now_id").to_pylist())
                   if p is not None and q is None]
        clock.lap("changed patients found")
        ids = ibis.memtable(pa.table({"patient_id": pa.array(touched, pa.string())}))
        # The changed patients' records picked once (one scan of each table), kept in the engine: the
        # timeline reads the prescriptions and diagnoses several times.
        sub = Extract(**{name: (getattr(now, name).semi_join(ids, "patient_id").cache() if getattr(now, name) is not None
                                else None)
                         for name in ("patients", "diagnoses", "prescriptions", "referrals")},
                      notes=None, source=extract.source)
        clock.lap("their records picked")
        t_sub = build_timeline(con, sub, config, HORIZON)
        key = state_key(con, config, t_sub)
        if meta.get("key") != key:
            reason = "the configuration, reference data or engine differ from the state's"
            local.disconnect()
            db.unlink()
            local = None
    if reason == "":
        pulled = {name: _arrow(con, table) for name, table in _tables(t_sub, sub, as_of).items()}
        clock.lap("changed patients' timeline")
        raw.register("gone_ids", pa.table({"patient_id": pa.array(touched + removed, pa.string())}))
        raw.sql("CREATE TEMP TABLE gone_keys AS SELECT pkey FROM patients WHERE patient_id IN (SELECT patient_id FROM gone_ids)")
        raw.register("removed_ids", pa.table({"patient_id": pa.array(removed, pa.string())}))
        raw.sql("CREATE TEMP TABLE removed_keys AS SELECT pkey FROM patients "
                "WHERE patient_id IN (SELECT patient_id FROM removed_ids)")
        # New keys above every key ever given (row_number keys start at 0): an old key's rows may remain.
        highest = " UNION ALL ".join(f'SELECT max(pkey) AS k FROM "{n}"' for n in ("patients", *APPEND_ONLY))
        offset = raw.sql(f"SELECT coalesce(max(k), -1) + 1 FROM ({highest})").fetchall()[0][0]
        replaced = int(meta.get("replaced", 0)) + raw.sql("SELECT count(*) FROM gone_keys").fetchall()[0][0]
        compact = replaced > COMPACT_SHARE * max(fp_now.num_rows, 1)
        raw.sql("BEGIN")
        for name in _kept_tables(has_contacts):
            column, within = ("patient_id", "gone_ids") if name in KEYED_BY_PATIENT_ID else ("pkey", "gone_keys")
            if name not in APPEND_ONLY:
                raw.sql(f'DELETE FROM "{name}" WHERE {column} IN (SELECT {column} FROM {within})')
            elif compact:
                raw.sql(f'DELETE FROM "{name}" WHERE pkey NOT IN (SELECT pkey FROM patients)')
            elif removed:  # a patient gone from the extract (an opt-out) leaves nothing behind in the state
                raw.sql(f'DELETE FROM "{name}" WHERE pkey IN (SELECT pkey FROM removed_keys)')
            if name in pulled:
                _insert(raw, name, pulled[name], offset)
        # Only the changed patients' fingerprints replaced (the others are equal: no rewrite of 1M rows).
        raw.sql("DELETE FROM fingerprints WHERE patient_id IN (SELECT patient_id FROM gone_ids)")
        raw.sql("INSERT INTO fingerprints SELECT * FROM fp_now WHERE patient_id IN (SELECT patient_id FROM gone_ids)")
        raw.sql("COMMIT")
        clock.lap("state tables updated")
        t = _timeline(local, config)
        d = _day(as_of)
        # Re-evaluated: the changed patients (new keys) and those whose next change day has come.
        raw.sql(f"CREATE TEMP TABLE redo_keys AS SELECT pkey FROM patients WHERE pkey >= {int(offset)} UNION "
                    f"SELECT pkey FROM next_change WHERE next_day <= {int(d)} AND pkey NOT IN (SELECT pkey FROM gone_keys)")
        # Their rows copied out once (one scan of each kept table): the evaluation then reads small tables.
        for name in (*TIMELINE_TABLES, "doses"):
            raw.sql(f'CREATE TEMP TABLE "_redo_{name}" AS SELECT * FROM "{name}" WHERE pkey IN (SELECT pkey FROM redo_keys)')
        if has_contacts:
            raw.sql("CREATE TEMP TABLE _redo_contacts AS SELECT * FROM contacts "
                    "WHERE patient_id IN (SELECT patient_id FROM _redo_patients)")
        part = Timeline(local, config, t.last_date, *(local.table(f"_redo_{n}") for n in TIMELINE_TABLES),
                        t.ingredients, None)
        doses = local.table("_redo_doses")
        contacts = local.table("_redo_contacts") if has_contacts else None
        clock.lap("re-evaluated patients' rows copied out")
        n_redo = raw.sql("SELECT count(*) FROM redo_keys").fetchall()[0][0]
        refresh = Refresh("incremental", f"records changed for {len(touched):,} patient(s) since {meta['as_of']}; "
                          f"{n_redo:,} patient(s) re-evaluated" + ("; replaced patients' old rows deleted" if compact else ""),
                          meta["as_of"], fp_now.num_rows, len(touched), len(removed))
        replaced = 0 if compact else replaced
        raw.sql("CREATE TEMP TABLE replace_keys AS SELECT pkey FROM gone_keys UNION SELECT pkey FROM redo_keys")
        where = "pkey IN (SELECT pkey FROM replace_keys)"  # one semi-join (an OR of two IN lists scanned twice)
        mode = "INSERT INTO {name} BY NAME"
    else:
        if local is None:
            local = _open_db(db)
            raw = local.con
        t_full = build_timeline(con, now, config, HORIZON)
        key = state_key(con, config, t_full)
        for name, table in _tables(t_full, now, as_of).items():
            _insert(raw, name, _arrow(con, table), create=True)
        raw.register("fp_now", fp_now)
        raw.sql("CREATE TABLE fingerprints AS SELECT * FROM fp_now")
        t = _timeline(local, config)
        part, doses = t, local.table("doses")
        contacts = local.table("contacts") if has_contacts else None
        refresh = Refresh("full", reason, meta["as_of"] if meta else None, fp_now.num_rows, fp_now.num_rows, 0)
        replaced = 0
        where, mode = None, "CREATE TABLE {name} AS"

    if where is None:
        clock.lap("full timeline and state")
    # The worklist parts of the re-evaluated patients (all of them in a full build), computed in the
    # state database, never pulled: their rows replace the kept ones.
    register_lookups(raw, t.ingredients, rules)
    fresh_patients, fresh_drugs, fresh_trials = worklist_parts(part, doses, contacts, as_of)
    for name, expr in (("_fresh_patients", fresh_patients), ("_fresh_drugs", fresh_drugs), ("_fresh_trials", fresh_trials),
                       ("_fresh_next", next_change(part, as_of))):
        local.create_table(name, expr, temp=True, overwrite=True)
    clock.lap("parts computed")
    raw.sql(f"CREATE TEMP TABLE _fresh_summary AS {summary_sql('_fresh_drugs', '_fresh_trials')}")
    raw.sql("BEGIN")
    for name, select in (("wl_rows", rows_sql("_fresh_patients", "_fresh_summary", config)),
                         ("next_change", "SELECT * FROM _fresh_next")):
        if where is not None:
            raw.sql(f"DELETE FROM {name} WHERE {where}")
        raw.sql(f"{mode.format(name=name)} {select}")
    raw.sql("COMMIT")
    clock.lap("fixed row parts replaced")
    table = render(raw, "wl_rows", as_of, rules, settings, config)
    clock.lap("every row written for the date")
    frame = to_frame(table)
    clock.lap("rows as a DataFrame")
    for name in ("_fresh_patients", "_fresh_drugs", "_fresh_trials", "_fresh_next", "_fresh_summary",
                 *(f"_redo_{n}" for n in (*TIMELINE_TABLES, "doses", "contacts"))):
        raw.sql(f'DROP TABLE IF EXISTS "{name}"')
    raw.sql("CHECKPOINT")  # everything in the database file itself (no WAL beside it) before it is swapped in
    clock.lap("checkpoint")
    refresh.timings = clock.laps
    (staging / STATE_JSON).write_text(json.dumps({
        "format": STATE_FORMAT, "as_of": str(as_of), "source": extract.source, "key": key,
        "contacts": has_contacts, "replaced": replaced,
        "note": "Patient-level state of the incremental worklist: stays inside the secure environment."},
        indent=2), encoding="utf-8")
    return frame, t, refresh


class _Clock:
    def __init__(self):
        self.laps, self._wall, self._cpu = {}, time.perf_counter(), time.process_time()

    def lap(self, name: str) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        self.laps[name] = {"wall_s": round(wall - self._wall, 2), "cpu_s": round(cpu - self._cpu, 2)}
        self._wall, self._cpu = wall, cpu


def _day(date: dt.date) -> int:
    from trdpath.early.timeline import day_number

    return day_number(date)
