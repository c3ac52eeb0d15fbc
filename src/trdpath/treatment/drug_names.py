"""Map prescription names and ATC codes to ingredients (study-definition.md 3.1).

Mapping runs in Python over the *distinct* (drug, atc_code) pairs of an extract - a data
dictionary of a few thousand entries at most - and the result is joined back in the engine.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import pandas as pd

from trdpath.reference import ReferenceData

ANTIDEPRESSANT = "antidepressant"
AUGMENTING = "augmenting"

_NON_LETTERS = re.compile(r"[^a-z]+")


def normalise_drug_name(name: str | None) -> str:
    """Lower case, letters only: 'Sertraline 50mg Tablets' -> 'sertraline mg tablets'."""
    if name is None:
        return ""
    # NFKC first: full-width or ligature letters read as the plain ones (issue 13).
    return _NON_LETTERS.sub(" ", unicodedata.normalize("NFKC", str(name)).lower()).strip()


@dataclass(frozen=True)
class Ingredient:
    name: str
    role: str  # ANTIDEPRESSANT or AUGMENTING
    min_daily_dose_mg: float | None


class DrugDictionary:
    """Generic names, brand names and ATC codes of the reference lists."""

    def __init__(self, reference: ReferenceData):
        self.ingredients: dict[str, Ingredient] = {}
        self._by_atc: dict[str, str] = {}
        self._by_name: list[tuple[str, str]] = []  # (normalised synonym, ingredient)
        for frame, role in ((reference.antidepressants, ANTIDEPRESSANT), (reference.augmenting_agents, AUGMENTING)):
            for row in frame.itertuples(index=False):
                ingredient = row.ingredient.strip().lower()
                dose = float(row.min_daily_dose_mg) if role == ANTIDEPRESSANT else None
                self.ingredients[ingredient] = Ingredient(ingredient, role, dose)
                if row.atc_code:
                    self._by_atc[row.atc_code.strip().upper()] = ingredient
                names = [ingredient] + [s for s in str(row.synonyms).split("|") if s.strip()]
                for synonym in names:
                    normalised = normalise_drug_name(synonym)
                    if normalised:
                        self._by_name.append((normalised, ingredient))
        # Longer names first so that a multi-word synonym wins over a word inside it.
        self._by_name.sort(key=lambda pair: -len(pair[0]))

    def by_atc(self, atc_code: str | None) -> str | None:
        if atc_code is None or pd.isna(atc_code):
            return None
        return self._by_atc.get(str(atc_code).strip().upper())

    def by_name(self, drug: str | None) -> str | None:
        """The ingredient whose generic or brand name appears first, as whole words, in the name."""
        padded = f" {normalise_drug_name(drug)} "
        best: tuple[int, str] | None = None
        for synonym, ingredient in self._by_name:
            position = padded.find(f" {synonym} ")
            if position >= 0 and (best is None or position < best[0]):
                best = (position, ingredient)
        return best[1] if best else None

    def map(self, drug: str | None, atc_code: str | None) -> str | None:
        """ATC code wins over the name; a name is used when the code is absent or not in the lists."""
        return self.by_atc(atc_code) or self.by_name(drug)

    def ingredient_table(self) -> pd.DataFrame:
        """ingredient_id (1.. in alphabetical order, so ordering by id is ordering by name), ingredient, role, dose."""
        names = sorted(self.ingredients)
        return pd.DataFrame(
            {
                "ingredient_id": range(1, len(names) + 1),
                "ingredient": names,
                "role": [self.ingredients[n].role for n in names],
                "min_daily_dose_mg": [self.ingredients[n].min_daily_dose_mg for n in names],
            }
        )
