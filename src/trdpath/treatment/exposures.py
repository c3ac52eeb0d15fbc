"""Exposures: each prescription as days on one ingredient, with its dose judged (study-definition.md 3.1-3.2)."""

from __future__ import annotations

import datetime as dt

import ibis
import pandas as pd

from trdpath.config import TreatmentSection
from trdpath.schema import days_supply_is_possible, dose_is_possible
from trdpath.treatment.drug_names import ANTIDEPRESSANT, DrugDictionary

_EPOCH = dt.date(1970, 1, 1)  # days count from here (cohort.index_date.EPOCH)


def drug_map(con, prescriptions: ibis.Table, drugs: DrugDictionary) -> pd.DataFrame:
    """The distinct (drug, atc_code) pairs of the extract (missing = '') with their row counts,
    mapped to ingredients.

    The pairs are grouped on the columns as they are (DuckDB then aggregates Parquet's dictionary
    codes, about 3x faster than on a derived key); missing values are merged afterwards.
    """
    pairs = con.execute(prescriptions.group_by(["drug", "atc_code"]).agg(n=ibis._.count()))
    pairs = (pairs.assign(drug_key=pairs["drug"].fillna(""), atc_key=pairs["atc_code"].fillna(""))
             .groupby(["drug_key", "atc_key"], as_index=False)["n"].sum())
    pairs["ingredient"] = [drugs.map(d, a or None) for d, a in zip(pairs["drug_key"], pairs["atc_key"])]
    return pairs


def build_exposures(prescriptions: ibis.Table, patient_keys: ibis.Table, mapping: ibis.Table,
                    index_day: int, treatment: TreatmentSection) -> ibis.Table:
    """pkey, ingredient_id, start, end (days), adequate_dose, for prescriptions up to the index date.

    `mapping`: drug_key, atc_key -> ingredient_id, role, min_daily_dose_mg (drug_map joined with the
    ingredient table, so one join names the drug and brings its threshold).

    `pkey` is an integer surrogate for patient_id (from `patient_keys`): the windows and joins
    of the later stages run markedly faster on integers than on identifier strings.
    """
    # Up to the index date, compared as dates: the engine can skip by the file's statistics and does not
    # convert every row's date to days twice (the same rows: days since 1970 grow with the date).
    up_to_index = prescriptions.filter(prescriptions.start_date <= ibis.literal(_EPOCH + dt.timedelta(days=index_day), "date"))
    rx = up_to_index.mutate(
        atc_key=up_to_index.atc_code.fill_null(""),
        drug_key=up_to_index.drug.fill_null(""),
        start=up_to_index.start_date.epoch_days().cast("int64"),
    )
    # Impossible doses and supplies (negative, NaN, infinite, absurd) are unknown, not used (issue 13;
    # counted by sources.validate.QUALITY_CHECKS).
    rx = rx.mutate(daily_dose_mg=ibis.ifelse(dose_is_possible(rx.daily_dose_mg), rx.daily_dose_mg, ibis.null("float64")),
                   days_supply=ibis.ifelse(days_supply_is_possible(rx.days_supply), rx.days_supply, ibis.null("int64")))
    rx = rx.join(patient_keys, "patient_id")
    # The role test and the narrowing cast on the small mapping table, once per drug name, not per prescription.
    mapping = mapping.select("drug_key", "atc_key", ingredient_id=mapping.ingredient_id.cast("int16"),
                             _antidepressant=mapping.role == ANTIDEPRESSANT, min_daily_dose_mg=mapping.min_daily_dose_mg)
    rx = rx.join(mapping, ["drug_key", "atc_key"])
    # study-definition.md 3.2: end_date, else start + days_supply, else start + default_exposure_days.
    end = rx.end_date.epoch_days().cast("int64").coalesce(
        rx.start + rx.days_supply, rx.start + treatment.default_exposure_days
    )
    # An end before the start is a data error: treat as a zero-day exposure (counted in data quality).
    # Events after the index date are ignored: exposures are clipped to end at it.
    end = ibis.greatest(end, rx.start)
    end = ibis.least(end, ibis.literal(index_day, "int64"))
    unknown_is_adequate = treatment.unknown_dose == "adequate"
    adequate_dose = rx._antidepressant & ibis.ifelse(
        rx.daily_dose_mg.isnull(), ibis.literal(unknown_is_adequate), rx.daily_dose_mg >= rx.min_daily_dose_mg
    )
    return rx.select("pkey", ingredient_id=rx.ingredient_id, start=rx.start.cast("int32"),
                     end=end.cast("int32"), adequate_dose=adequate_dose)
