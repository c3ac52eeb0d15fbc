"""Values packed into 64-bit integers inside the engine come back whole on every backend.

Two places pack: treatment_sequence (ingredient ids in bit fields of a few words per patient,
engines.packing.SequencePacking) and the two running era counts of number_eras (one windowed sum, two
31-bit fields). The synthetic extracts never need more than one sequence word, so these tests
make cases that do, and check against plain Python.
"""

from __future__ import annotations

import random

import ibis.expr.operations as ops
import pandas as pd
import pyarrow as pa
import pytest

from trdpath import engines
from trdpath.engines.packing import SequencePacking
from trdpath.treatment.eras import number_eras

pytestmark = pytest.mark.xdist_group("backends")

def _drug_positions(seed: int, max_id: int) -> pd.DataFrame:
    """pkey, ingredient_id, position: each patient a random run of distinct ids at positions 0.."""
    rng = random.Random(seed)
    rows = []
    for pkey in range(1, 41):
        length = rng.choice([0, 1, 2, 9, 10, 11, 23, 25])  # around the 10-positions-per-word boundary
        ids = rng.sample(range(1, max_id + 1), k=min(length, max_id))
        rows += [{"pkey": pkey, "ingredient_id": i, "position": p} for p, i in enumerate(ids)]
    return pd.DataFrame(rows, columns=["pkey", "ingredient_id", "position"])


@pytest.mark.parametrize("max_id", [60, 1000])  # 6-bit fields (10 per word), 10-bit fields (6 per word)
@pytest.mark.parametrize("bit_or", [True, False])  # BIT_OR where the backend has it; SUM (Spark) otherwise
def test_sequence_words_unpack_to_the_ids_in_order(any_con, max_id, bit_or):
    if bit_or and not any_con.has_operation(ops.BitOr):
        pytest.skip(f"{any_con.name} has no BIT_OR")
    frame = _drug_positions(seed=max_id, max_id=max_id)
    longest = int(frame["position"].max()) + 1
    packing = SequencePacking(max_id, longest)
    assert len(packing.names) == -(-longest // (62 // max_id.bit_length())) > 1

    rows = engines.load_tables(any_con, {"drugs": frame})["drugs"]
    words = rows.group_by("pkey").agg(**packing.words(rows.ingredient_id, rows.position, bit_or=bit_or))
    fetched = any_con.execute(words.order_by("pkey"))
    ids = packing.ids(pa.Table.from_pandas(fetched, preserve_index=False))

    expected = {pkey: group.sort_values("position")["ingredient_id"].tolist() for pkey, group in frame.groupby("pkey")}
    got = {int(pkey): [int(i) for i in row if i] for pkey, row in zip(fetched["pkey"], ids)}
    assert got == expected


def _python_eras(rows: list[tuple[int, int, bool]], gap: int) -> list[tuple[int | None, int | None]]:
    """Per row (in the given order): (era number, adequate-dose era number or None), the rule of
    study-definition.md 3.3 applied row by row in (start, end) order."""
    order = sorted(range(len(rows)), key=lambda i: (rows[i][0], rows[i][1]))
    era = adequate_era = 0
    latest = latest_adequate = None
    out: dict[int, tuple[int, int | None]] = {}
    for i in order:
        start, end, adequate = rows[i]
        if latest is None or start > latest + gap:
            era += 1
        latest = end if latest is None else max(latest, end)
        if adequate:
            if latest_adequate is None or start > latest_adequate + gap:
                adequate_era += 1
            latest_adequate = end if latest_adequate is None else max(latest_adequate, end)
        out[i] = (era, adequate_era if adequate else None)
    return [out[i] for i in range(len(rows))]


def test_packed_era_counts_match_counting_in_python(any_con):
    """Many eras in one partition (so the adequate count's field is far from zero) and ties on start."""
    rng = random.Random(7)
    rows, day = [], 0
    for _ in range(300):
        day += rng.choice([0, 0, 5, 31, 45, 200])  # 0: the same start as the row before
        rows.append((day, day + rng.choice([0, 10, 28, 40]), rng.random() < 0.6))
    frame = pd.DataFrame(rows, columns=["start", "end", "adequate_dose"]).assign(pkey=1, ingredient_id=3, row=range(len(rows)))
    table = engines.load_tables(any_con, {"exposures": frame})["exposures"]
    numbered = number_eras(table, ["pkey", "ingredient_id"], 30, {"era": None, "adequate_era": "adequate_dose"})
    got = any_con.execute(numbered.select("row", "era", "adequate_era").order_by("row"))
    expected = _python_eras(rows, 30)
    assert got["era"].astype(int).tolist() == [e for e, _ in expected]
    assert [None if pd.isna(a) else int(a) for a in got["adequate_era"]] == [a for _, a in expected]
    assert max(e for e, _ in expected) > 50  # the test reaches far into both fields
