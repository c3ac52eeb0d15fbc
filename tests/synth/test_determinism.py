"""Same seed -> the same bytes; chunking does not change the rows; failures leave nothing behind."""

from __future__ import annotations

import filecmp
from pathlib import Path

import pandas as pd
import pytest

import trdpath.synth.writer as gen_module
from trdpath.errors import UserError
from trdpath.synth import generate
from trdpath.synth.block import BLOCK_SIZE

N = BLOCK_SIZE * 2 + 300  # three blocks, the last one partial


def _files(folder: Path) -> list[Path]:
    return sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())


def _identical(a: Path, b: Path) -> bool:
    fa, fb = _files(a), _files(b)
    return fa == fb and all(filecmp.cmp(a / f, b / f, shallow=False) for f in fa)


def test_same_seed_same_bytes_and_other_seed_differs(tmp_path):
    generate(tmp_path / "a", N, seed=7)
    generate(tmp_path / "b", N, seed=7)
    generate(tmp_path / "c", N, seed=8)
    assert _identical(tmp_path / "a", tmp_path / "b")
    for table in ("patients", "diagnoses", "prescriptions", "referrals"):
        assert not filecmp.cmp(tmp_path / "a" / f"{table}.csv", tmp_path / "c" / f"{table}.csv", shallow=False)


def test_parquet_is_deterministic_too(tmp_path):
    generate(tmp_path / "a", 1500, seed=3, fmt="parquet")
    generate(tmp_path / "b", 1500, seed=3, fmt="parquet")
    assert _identical(tmp_path / "a", tmp_path / "b")


def test_chunked_csv_equals_unchunked(tmp_path):
    generate(tmp_path / "one", N, seed=11, chunk_size=10 * N)
    generate(tmp_path / "many", N, seed=11, chunk_size=BLOCK_SIZE)  # one block per chunk
    assert _identical(tmp_path / "one", tmp_path / "many")


def test_partitioned_parquet_reads_as_the_same_table(tmp_path):
    generate(tmp_path / "one", N, seed=5, fmt="parquet", chunk_size=10 * N)
    generate(tmp_path / "many", N, seed=5, fmt="parquet", chunk_size=BLOCK_SIZE)
    generate(tmp_path / "csv", N, seed=5, fmt="csv")
    assert (tmp_path / "one" / "prescriptions.parquet").is_file()
    parts = sorted((tmp_path / "many" / "prescriptions").glob("part-*.parquet"))
    assert [p.name for p in parts] == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    for table in ("patients", "diagnoses", "prescriptions", "referrals"):
        single = pd.read_parquet(tmp_path / "one" / f"{table}.parquet")
        folder = pd.read_parquet(tmp_path / "many" / table)
        pd.testing.assert_frame_equal(single, folder)
        # ... and the CSV of the same seed holds the same values.
        csv = pd.read_csv(tmp_path / "csv" / f"{table}.csv", dtype=str, keep_default_na=False)
        as_text = single.astype(object).where(single.notna(), "").astype(str)
        for col in ["patient_id"] + [c for c in ("drug", "code", "service") if c in csv]:
            assert list(as_text[col]) == list(csv[col])


def test_failure_leaves_nothing_half_written(tmp_path, monkeypatch):
    real = gen_module._block_tables
    calls = {"n": 0}

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(gen_module, "_block_tables", failing)
    with pytest.raises(RuntimeError):
        generate(tmp_path / "out", N, seed=1, chunk_size=BLOCK_SIZE)
    assert list(tmp_path.iterdir()) == []


def test_refuses_to_overwrite_a_foreign_folder(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "precious.csv").write_text("x\n")
    with pytest.raises(UserError, match="not written by trdpath synth"):
        generate(tmp_path / "mine", 10)
    assert (tmp_path / "mine" / "precious.csv").read_text() == "x\n"
    # A previous generator output is replaced in place.
    generate(tmp_path / "again", 10, seed=1)
    generate(tmp_path / "again", 20, seed=1)
    assert len(pd.read_csv(tmp_path / "again" / "patients.csv")) == 20


@pytest.mark.parametrize("kwargs, message", [
    ({"fmt": "xlsx"}, "csv or parquet"),
    ({"n_patients": 0}, "at least 1"),
])
def test_bad_arguments_are_user_errors(tmp_path, kwargs, message):
    args = {"out_dir": tmp_path / "x", "n_patients": 10} | kwargs
    with pytest.raises(UserError, match=message):
        generate(**args)


def test_duckdb_reads_a_folder_of_parts_as_the_csv_table(tmp_path):
    """A NAME/ folder of Parquet parts is one table to DuckDB (how the engine reads it)."""
    import duckdb

    n = BLOCK_SIZE + 500
    generate(tmp_path / "csv", n, seed=21, notes=False)
    generate(tmp_path / "pq", n, seed=21, fmt="parquet", chunk_size=BLOCK_SIZE, notes=False)
    assert len(list((tmp_path / "pq" / "prescriptions").glob("*.parquet"))) == 2
    con = duckdb.connect()
    for table, key in (("prescriptions", "patient_id, start_date, drug"), ("diagnoses", "patient_id, date, code")):
        from_parts = con.sql(f"SELECT * FROM read_parquet('{tmp_path}/pq/{table}/*.parquet')").df()
        from_parts = from_parts.assign(**{c: from_parts[c].dt.strftime("%Y-%m-%d") for c in from_parts
                                          if str(from_parts[c].dtype).startswith("datetime")})
        from_csv = con.sql(f"SELECT * FROM read_csv('{tmp_path}/csv/{table}.csv', all_varchar=true)").df()
        assert len(from_parts) == len(from_csv)
        as_text = from_parts.astype(object).where(from_parts.notna(), None)
        for col in key.split(", "):
            assert sorted(as_text[col].astype(str)) == sorted(from_csv[col].astype(str)), (table, col)


def test_engine_classifies_partitioned_parquet_like_csv(tmp_path):
    """The engine reads a NAME/ folder of parts as one table: same answers as from the CSV."""
    from trdpath.api import classify

    n = BLOCK_SIZE + 500
    generate(tmp_path / "csv", n, seed=21, notes=False)
    generate(tmp_path / "pq", n, seed=21, fmt="parquet", chunk_size=BLOCK_SIZE, notes=False)
    a = classify(tmp_path / "csv", tmp_path / "out_csv").patients
    b = classify(tmp_path / "pq", tmp_path / "out_pq").patients
    assert len(a) == n
    pd.testing.assert_frame_equal(a.sort_values("patient_id").reset_index(drop=True),
                                  b.sort_values("patient_id").reset_index(drop=True))
