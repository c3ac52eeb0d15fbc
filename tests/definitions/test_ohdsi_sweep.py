"""OHDSI 1009's entry event (a) in the engine (definitions.engine._distinct_drug_days: per-drug pieces of the look-back covers, joined to the era starts)
against a second implementation: the rule read literally, every era start against every era."""

from __future__ import annotations

import ibis
import pandas as pd
from hypothesis import Phase, given, settings, strategies as st

from trdpath.definitions.engine import _distinct_drug_days

BACK, N = 365, 3


def by_hand(eras: pd.DataFrame) -> set[tuple[int, int]]:
    """(pkey, s) for each era start s with >= N drugs having an era x_start <= s, x_end >= s - BACK,
    >= N - 1 of them with x_start < s (definitions/reference.py's loop)."""
    out = set()
    for pkey, mine in eras.groupby("pkey"):
        rows = list(mine.itertuples(index=False))
        for e in rows:
            s = e.era_start
            recent = [x for x in rows if x.era_end >= s - BACK]
            on_or_before = {x.ingredient_id for x in recent if x.era_start <= s}
            before = {x.ingredient_id for x in recent if x.era_start < s}
            if len(on_or_before) >= N and len(before) >= N - 1:
                out.add((int(pkey), int(s)))
    return out


# Eras of up to 5 drugs per patient on days in steps of 73 (365 = 5 x 73): starts collide, a start falls on
# the last day of a look-back or the day after, covers overlap, touch and nest (a drug's eras may even
# overlap each other here, which real eras never do).
era = st.tuples(st.integers(1, 2), st.integers(0, 4), st.integers(0, 6).map(lambda d: d * 73),
                st.integers(0, 4).map(lambda d: d * 73) | st.integers(0, 3))


@settings(max_examples=80, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(st.lists(era, min_size=1, max_size=25))
def test_the_sweep_equals_the_rule_read_literally(rows):
    eras = pd.DataFrame([{"pkey": p, "ingredient_id": d, "era_start": s, "era_end": s + length}
                         for p, d, s, length in rows]).astype("int64")
    con = ibis.duckdb.connect()
    got = con.to_pyarrow(_distinct_drug_days(ibis.memtable(eras), BACK, N)).to_pandas()
    assert set(zip(got["pkey"].astype(int), got["era_start"].astype(int))) == by_hand(eras)


def test_the_look_back_edges_by_hand():
    # drug 1 ends day 100; drug 2 starts 200; drug 3 starts 465 (= 100 + 365: drug 1 still covers it) and
    # 466 for patient 2 (one day past the look-back): only patient 1 qualifies, on day 465.
    eras = pd.DataFrame({"pkey": [1, 1, 1, 2, 2, 2], "ingredient_id": [1, 2, 3, 1, 2, 3],
                         "era_start": [0, 200, 465, 0, 200, 466], "era_end": [100, 300, 500, 100, 300, 500]})
    got = ibis.duckdb.connect().to_pyarrow(_distinct_drug_days(ibis.memtable(eras), BACK, N)).to_pandas()
    assert sorted(zip(got["pkey"], got["era_start"])) == [(1, 465)]
    # three drugs starting on the same day: 3 on or before, none before -> not on that day
    same = pd.DataFrame({"pkey": [1, 1, 1], "ingredient_id": [1, 2, 3], "era_start": [10, 10, 10], "era_end": [20, 20, 20]})
    assert ibis.duckdb.connect().to_pyarrow(_distinct_drug_days(ibis.memtable(same), BACK, N)).num_rows == 0
