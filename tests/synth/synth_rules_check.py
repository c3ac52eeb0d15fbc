"""A small, independent pandas implementation of trd-rules.md (sections 1-4) for checking the generator.

Written from the rules text, not from the generator: it reads the extract the generator wrote and
classifies it, so tests can compare its answer with the generator's intended latent truth. It is
deliberately plain (no shared code with trdpath.synth) and only as fast as tests need.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from trdpath.config import StudyConfig
from trdpath.reference import ReferenceData

EXCLUSION_PREFIXES = [
    ("bipolar_or_mania", ["F30", "F31"]),
    ("psychosis", ["F20", "F21", "F22", "F23", "F24", "F25", "F28", "F29"]),
    ("dementia", ["F00", "F01", "F02", "F03", "G30"]),
    ("cognitive_or_neurological", ["F04", "F05", "F06", "F07", "F08", "F09", "G10", "G11", "G12", "G13",
                                   "G20", "G21", "G22", "G23", "G24", "G25", "G26", "G31", "G35", "G36",
                                   "G37", "G40", "G41"]),
]


def read_table(folder: Path, name: str) -> pd.DataFrame:
    folder = Path(folder)
    if (folder / f"{name}.csv").exists():
        return pd.read_csv(folder / f"{name}.csv", dtype=str, keep_default_na=False)
    path = folder / f"{name}.parquet" if (folder / f"{name}.parquet").exists() else folder / name
    frame = pd.read_parquet(path)
    return frame


def _days(series: pd.Series) -> pd.Series:
    return (pd.to_datetime(series.replace("", None)) - pd.Timestamp("1970-01-01")).dt.days


def _name_map() -> tuple[dict[str, tuple[str, bool]], dict[str, tuple[str, bool]], dict[str, float]]:
    ref = ReferenceData(StudyConfig())
    by_name, by_atc, min_dose = {}, {}, {}
    for frame, is_ad in ((ref.antidepressants, True), (ref.augmenting_agents, False)):
        for row in frame.itertuples(index=False):
            by_atc[row.atc_code] = (row.ingredient, is_ad)
            for word in [row.ingredient, *[s for s in row.synonyms.split("|") if s]]:
                by_name[word] = (row.ingredient, is_ad)
            if is_ad:
                min_dose[row.ingredient] = float(row.min_daily_dose_mg)
    return by_name, by_atc, min_dose


def _eras(frame: pd.DataFrame, gap: int) -> pd.DataFrame:
    """Merge exposures per (patient, ingredient): next start <= current era end + gap."""
    if frame.empty:
        return pd.DataFrame(columns=["patient_id", "ingredient", "start", "end"])
    f = frame.sort_values(["patient_id", "ingredient", "start", "end"]).reset_index(drop=True)
    key = f["patient_id"] + "|" + f["ingredient"]
    prev_end = f.groupby(key, sort=False)["end"].cummax().groupby(key, sort=False).shift()
    new = prev_end.isna() | (f["start"] > prev_end + gap)
    f["era"] = new.cumsum()
    return f.groupby("era").agg(patient_id=("patient_id", "first"), ingredient=("ingredient", "first"),
                                start=("start", "min"), end=("end", "max")).reset_index(drop=True)


def classify(folder: Path) -> pd.DataFrame:
    patients = read_table(folder, "patients")
    dx = read_table(folder, "diagnoses")
    rx = read_table(folder, "prescriptions")
    for frame in (patients, dx, rx):
        for col in frame.columns:
            frame[col] = frame[col].astype(str).replace({"None": "", "nan": "", "NaT": ""})
    index_day = max(_days(dx["date"]).max(), _days(rx["start_date"]).max(), _days(rx["end_date"]).max())

    out = pd.DataFrame({"patient_id": patients["patient_id"]})
    codes = dx["code"].str.upper().str.replace(".", "", regex=False).str.strip()
    has = lambda prefixes: set(dx.loc[codes.str[:3].isin(prefixes), "patient_id"])  # noqa: E731
    # Age in completed years at the index date.
    index_ts = pd.Timestamp("1970-01-01") + pd.Timedelta(days=int(index_day))
    bd = pd.to_datetime(patients["birth_date"])
    age = index_ts.year - bd.dt.year
    age = age - ((bd.dt.month > index_ts.month) | ((bd.dt.month == index_ts.month) & (bd.dt.day > index_ts.day)))

    by_name, by_atc, min_dose = _name_map()
    first_word = rx["drug"].str.lower().str.extract(r"^\s*([a-z\-]+)", expand=False).fillna("")
    mapped = first_word.map(lambda w: by_name.get(w))
    atc_mapped = rx["atc_code"].map(lambda a: by_atc.get(a) if a else None)
    mapped = atc_mapped.where(atc_mapped.notna(), mapped)
    rx = rx.assign(ingredient=mapped.map(lambda m: m[0] if isinstance(m, tuple) else None),
                   is_ad=mapped.map(lambda m: m[1] if isinstance(m, tuple) else None))
    rx = rx[rx["ingredient"].notna()].copy()
    rx["start"] = _days(rx["start_date"])
    supply = pd.to_numeric(rx["days_supply"].replace("", None))
    end = _days(rx["end_date"])
    rx["end"] = end.fillna(rx["start"] + supply).fillna(rx["start"] + 28)
    dose = pd.to_numeric(rx["daily_dose_mg"].replace("", None))
    ad = rx[rx["is_ad"] == True]  # noqa: E712
    aug = rx[rx["is_ad"] == False]  # noqa: E712

    reason = pd.Series("", index=out.index)
    rules = [("no_depression_diagnosis", ~out["patient_id"].isin(has(["F32", "F33"]))),
             ("under_18", age < 18)]
    rules += [(name, out["patient_id"].isin(has(prefixes))) for name, prefixes in EXCLUSION_PREFIXES]
    rules += [("no_antidepressant", ~out["patient_id"].isin(set(ad["patient_id"])))]
    for name, failed in rules:
        reason = reason.where((reason != "") | ~failed, name)
    out["exclusion_reason"] = reason.values

    eras = _eras(ad[["patient_id", "ingredient", "start", "end"]], 30)
    # Episodes: a new one when an era starts > 183 days after every earlier era ended.
    eras = eras.sort_values(["patient_id", "start", "end"]).reset_index(drop=True)
    prev_max = eras.groupby("patient_id")["end"].cummax().groupby(eras["patient_id"]).shift()
    eras["new_episode"] = prev_max.isna() | (eras["start"] > prev_max + 183)
    ep_start = eras[eras["new_episode"]].groupby("patient_id")["start"].max()
    eras["episode_start"] = eras["patient_id"].map(ep_start)
    current = eras[eras["start"] >= eras["episode_start"]]
    n_ad = current.groupby("patient_id")["ingredient"].nunique()

    adequate_rx = ad[(dose.reindex(ad.index).isna()) | (dose.reindex(ad.index) >= ad["ingredient"].map(min_dose))]
    adq = _eras(adequate_rx[["patient_id", "ingredient", "start", "end"]], 30)
    adq["episode_start"] = adq["patient_id"].map(ep_start)
    adq = adq[(adq["start"] >= adq["episode_start"]) & (adq["end"] - adq["start"] >= 28)]
    adq["adequacy"] = adq["start"] + 28
    first_adq = adq.groupby(["patient_id", "ingredient"])["adequacy"].min().reset_index()
    first_adq = first_adq.sort_values(["patient_id", "adequacy", "ingredient"])
    first_adq["rank"] = first_adq.groupby("patient_id").cumcount()
    top2 = first_adq[first_adq["rank"] < 2]
    t2 = first_adq[first_adq["rank"] == 1].set_index("patient_id")["adequacy"]

    steps = current.merge(top2[["patient_id", "ingredient"]], how="left", indicator=True)
    steps = steps[(steps["_merge"] == "left_only")]
    steps = steps[steps["start"] > steps["patient_id"].map(t2)]
    ad_step = steps.groupby("patient_id")["start"].min()

    aug_eras = _eras(aug[["patient_id", "ingredient", "start", "end"]], 30)
    pairs = aug_eras.merge(eras[["patient_id", "start", "end"]], on="patient_id", suffixes=("", "_ad"))
    overlap = np.minimum(pairs["end"], pairs["end_ad"]) - np.maximum(pairs["start"], pairs["start_ad"])
    pairs = pairs[(overlap >= 1) & (pairs["start"] > pairs["patient_id"].map(t2))]
    aug_step = pairs.groupby("patient_id")["start"].min()

    pid = out["patient_id"]
    in_cohort = out["exclusion_reason"] == ""
    trd_date = pd.concat([ad_step, aug_step]).groupby(level=0).min()
    out["in_cohort"] = in_cohort.values
    out["n_antidepressants"] = pid.map(n_ad).fillna(0).astype(int).where(in_cohort, 0)
    out["trd"] = pid.isin(trd_date.index) & in_cohort
    out["augmented"] = pid.isin(aug_step.index) & in_cohort
    n = out["n_antidepressants"]
    out["resistance_level"] = np.where(~in_cohort, "", np.where(~out["trd"], "MDD",
                                       np.where(n >= 4, "4+", n.astype(str))))
    out["depression_code"] = np.where(pid.isin(has(["F33"])), "F33", np.where(pid.isin(has(["F32"])), "F32", ""))
    out["psychotic_symptoms"] = pid.isin(set(dx.loc[codes.str[:4].isin(["F323", "F333"]), "patient_id"]))
    return out

