"""Bit-packing: several small integers carried in one 64-bit word through an engine's aggregate,
unpacked on the fetched Arrow table (one integer travels instead of many columns)."""

from __future__ import annotations

import ibis
import ibis.expr.operations as ops
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


class SequencePacking:
    """How treatment_sequence travels from the engine: ingredient ids (1..`max_id`) at positions
    0..`longest`-1, `per_word` positions to a 64-bit word, each in a field of `bits` bits (0 = none)."""

    def __init__(self, max_id: int, longest: int):
        self.bits = max(max_id, 1).bit_length()
        self.per_word = 62 // self.bits  # leave the sign bit alone
        self.longest = longest
        self.names = [f"_seq{w}" for w in range(-(-longest // self.per_word))]

    def words(self, ingredient_id: ibis.IntegerValue, position: ibis.IntegerValue, bit_or: bool) -> dict[str, ibis.Value]:
        """Aggregates (one per word) over rows of (ingredient_id, 0-based position) of one patient.
        Positions are distinct, so their fields never overlap: OR and SUM agree; BIT_OR where the
        backend has it (SUM on DuckDB gives a 128-bit integer)."""
        out = {}
        for w, name in enumerate(self.names):
            first = w * self.per_word
            in_word = (position >= first) & (position < first + self.per_word)
            # Rows of other words get shift 0 (only rows of this word are aggregated, but the
            # shift is computed for every row, and an over-long shift is an error on DuckDB).
            shift = ibis.ifelse(in_word, (position - first) * self.bits, 0).cast("int32")
            field = ingredient_id.cast("int64") << shift
            # SUM's declared type is int64 but PostgreSQL returns NUMERIC: cast explicitly.
            word = field.bit_or(where=in_word) if bit_or else ops.Cast(field.sum(where=in_word), to="int64").to_expr()
            # 0 for no drug, never NULL: a NULL would make some engines' pandas route turn the
            # column into floats, which cannot hold 62 bits.
            out[name] = word.fill_null(0)
        return out

    def ids(self, table: pa.Table) -> np.ndarray:
        """rows x longest matrix of ingredient ids (0 = no drug at that position) from the words."""
        mask = (1 << self.bits) - 1
        ids = np.zeros((table.num_rows, self.longest), np.uint8 if self.bits <= 8 else np.int32)
        for w, name in enumerate(self.names):
            word = pc.fill_null(pc.cast(table[name], pa.int64()), 0).to_numpy()
            for j in range(min(self.per_word, self.longest - w * self.per_word)):
                ids[:, w * self.per_word + j] = (word >> (j * self.bits)) & mask
        return ids
