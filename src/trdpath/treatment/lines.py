"""Treatment lines of the current episode (study-definition.md 3.5, 5): each drug once, in the order it was
first started, and the count of antidepressants; treatment_sequence is these drugs by name."""

from __future__ import annotations

import ibis
import pandas as pd

from trdpath.classify import in_current_episode
from trdpath.engines import has_bit_or
from trdpath.engines.packing import SequencePacking
from trdpath.treatment.drug_names import ANTIDEPRESSANT, AUGMENTING


def drugs_in_episode(eras: ibis.Table, episodes: ibis.Table) -> ibis.Table:
    """pkey, ingredient_id, first_start, adequacy_day, position: one row per drug of the current episode.

    Each drug's first era start and first adequacy date in the episode (an adequate trial is in the
    episode exactly when its era is: episodes hold whole eras). Positions (0-based) are numbered on
    integers only (ingredient ids are in alphabetical order of names, so ties on the start day still
    go alphabetically); names join afterwards, outside the window.
    """
    eras_now = in_current_episode(eras, episodes, "era_start")
    per_drug = eras_now.group_by(["pkey", "ingredient_id"]).agg(
        first_start=eras_now.era_start.min(), adequacy_day=eras_now.first_adequacy_day.min())
    order = ibis.window(group_by="pkey", order_by=[per_drug.first_start, per_drug.ingredient_id])
    return per_drug.mutate(position=ibis.row_number().over(order))


def treatment_lines(con, per_drug: ibis.Table, ingredients: pd.DataFrame) -> tuple[ibis.Table, SequencePacking]:
    """pkey, n_antidepressants and the treatment sequence packed into words (engines.packing), with
    the packing that unpacks it on the fetched table. Ordered string aggregates, a pivot on names,
    or one column per position cost the engine several times more."""
    # The max of no rows is NULL: None from DuckDB and PostgreSQL, NaN from Spark.
    last_position = con.execute(per_drug.position.max())
    longest = (0 if pd.isna(last_position) else int(last_position)) + 1
    packing = SequencePacking(int(ingredients["ingredient_id"].max()), longest)
    lines = per_drug.group_by("pkey").agg(
        n_antidepressants=antidepressant_count(per_drug, ingredients),
        **packing.words(per_drug.ingredient_id, per_drug.position, bit_or=has_bit_or(con)),
    )
    return lines, packing


def antidepressant_count(per_drug: ibis.Table, ingredients: pd.DataFrame) -> ibis.Value:
    """n_antidepressants, as an aggregate over a patient's drugs of the current episode (GLOSSARY: lines)."""
    antidepressant_ids = ingredients.loc[ingredients["role"] == ANTIDEPRESSANT, "ingredient_id"].tolist()
    return per_drug.count(where=per_drug.ingredient_id.isin(antidepressant_ids))


def sequence_labels(ingredients: pd.DataFrame) -> dict[int, str]:
    """ingredient_id -> the name written in treatment_sequence ('+name' for an augmenting agent)."""
    return {row.ingredient_id: ("+" if row.role == AUGMENTING else "") + row.ingredient
            for row in ingredients.itertuples(index=False)}
