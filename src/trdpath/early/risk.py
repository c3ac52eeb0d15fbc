"""Risk of progression to TRD within 12 months of the first failed adequate trial, honestly evaluated.

Reported after TRIPOD (Collins et al. 2015): who is in (cohort patients at their first adequate trial,
with 12 months of follow-up in the extract), the outcome (TRD date within 365 days), the predictors
(known at the index day only), a temporal split (the latest index days are the test set), and
discrimination (AUROC with a bootstrap CI, AUPRC), calibration (slope and intercept, Van Calster et
al. 2019), lift in the top fifth and a decision curve (Vickers & Elkin 2006). Penalised (L2) logistic
regression is the transparent default; gradient boosting is an option. For service planning and
research; not a medical device.
"""

from __future__ import annotations

import datetime as dt

import ibis
import numpy as np
import pandas as pd
import statsmodels.api as sm
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from trdpath.cohort.code_lists import code_map
from trdpath.cohort.demographics import sex_group
from trdpath.early.timeline import Timeline, day_number, status_at
from trdpath.errors import UserError
from trdpath.reference import ReferenceData
from trdpath.stats.disclosure import small_label

HORIZON_DAYS = 365
PREDICTOR_LISTS = ("recurrent_depression", "psychotic_symptoms", "anxiety", "substance_misuse", "personality_disorder",
                   "self_harm", "cardiovascular", "respiratory", "diabetes")
NUMERIC = ("age", "prior_episodes", "referrals_before")
MODELS = ("logistic", "boosting")
# Notes-derived flags (trdpath.nlp.patient: affirmed, about the patient, dated by the index day), optional.
MENTION_COLUMNS = ("patient_id", "date", "category", "negated", "hypothetical", "experiencer", "certainty")


def read_mentions(path) -> pd.DataFrame:
    """The mention table of `trdpath nlp extract` (CSV or Parquet); a clear refusal when the notes
    were not processed (no file) or the file is not such a table."""
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        raise UserError(f"--mentions {path}: no such file. The notes were not processed: run `trdpath nlp extract "
                        "--notes NOTES --out MENTIONS` first, or leave out --mentions (no notes flags as predictors).")
    try:
        frame = (pd.read_parquet(path) if path.suffix.lower() == ".parquet"
                 else pd.read_csv(path, dtype=str, keep_default_na=False))
    except Exception as exc:  # pyarrow and the CSV parser raise several types for a damaged file
        raise UserError(f"--mentions {path} cannot be read as a mention table ({exc.__class__.__name__}).") from None
    missing = [c for c in MENTION_COLUMNS if c not in frame.columns]
    if missing:
        raise UserError(f"--mentions {path} is not a mention table of `trdpath nlp extract`: it lacks the column(s) "
                        f"{', '.join(missing)}.")
    for column in ("negated", "hypothetical"):
        text = frame[column].astype(str).str.strip().str.lower()
        bad = ~text.isin(["true", "false", "1", "0"])
        if bad.any():
            row = int(bad.to_numpy().nonzero()[0][0])
            raise UserError(f"--mentions {path}, row {row + 2}, column {column}: expected true or false "
                            f"(got {frame[column].iloc[row]!r}).")
        frame[column] = text.isin(["true", "1"])
    dates = pd.to_datetime(frame["date"], errors="coerce")
    if dates.isna().any():
        row = int(dates.isna().to_numpy().nonzero()[0][0])
        raise UserError(f"--mentions {path}, row {row + 2}, column date: not a date (got {frame['date'].iloc[row]!r}).")
    frame["date"] = dates
    return frame


def add_notes_flags(frame: pd.DataFrame, mentions: pd.DataFrame) -> pd.DataFrame:
    """The notes flags (self_harm_nlp, suicidal_ideation_nlp, suicide_attempt_nlp) of each patient as
    known at their own index day (trdpath.nlp.patient.flags_from_mentions, cut at that day)."""
    from trdpath.nlp.patient import FLAG_COLUMNS, flags_from_mentions

    index_dates = pd.Series(pd.to_datetime(frame["index_day"], unit="D").to_numpy(), index=frame["patient_id"].astype(str))
    flags = flags_from_mentions(mentions, frame["patient_id"], index_date=index_dates)
    flags = flags.set_index("patient_id")[FLAG_COLUMNS]
    out = frame.copy()
    for column in FLAG_COLUMNS:
        out[column] = frame["patient_id"].astype(str).map(flags[column]).fillna(False).astype(bool).to_numpy()
    return out


def risk_dataset(t: Timeline, extract, outcome_date: dt.date) -> pd.DataFrame:
    """One row per cohort patient at the first adequate trial ever known (the index day), with
    predictors known by then and the outcome: TRD within 365 days (followed up to `outcome_date`)."""
    con, config = t.con, t.config
    first = t.trials.group_by("pkey").agg(index_day=t.trials.known_day.min())
    last = day_number(outcome_date)
    first = first.filter(first.index_day + HORIZON_DAYS <= last)
    final = status_at(t, [outcome_date], treated_only=True).select("pkey", "trd_day")
    prior = t.episode_opens.join(first, "pkey")
    prior = prior.filter(prior.open_day < prior.index_day).group_by("pkey").agg(n_opens=ibis._.count())
    p = t.patients.join(first, "pkey").left_join(final, "pkey").drop("pkey_right")
    p = p.left_join(prior, "pkey").drop("pkey_right")
    reference = ReferenceData(config)
    codes = code_map(con, extract.diagnoses, reference, list(PREDICTOR_LISTS), ibis.literal(outcome_date, "date"))
    relevant = codes[codes[list(PREDICTOR_LISTS)].any(axis=1)][["code_key", *PREDICTOR_LISTS]]
    lookup = ibis.memtable(relevant, schema={"code_key": "string", **{n: "boolean" for n in PREDICTOR_LISTS}})
    dx = extract.diagnoses.mutate(code_key=extract.diagnoses.code.fill_null(""), day=extract.diagnoses.date.epoch_days())
    dx = dx.join(lookup, "code_key").join(p.select("patient_id", "index_day"), "patient_id")
    dx = dx.filter(dx.day <= dx.index_day)  # known at the index day only
    flags = dx.group_by("patient_id").agg(**{n: dx[n].max() for n in PREDICTOR_LISTS})
    p = p.left_join(flags, "patient_id").drop("patient_id_right")
    if extract.referrals is not None:
        r = extract.referrals.mutate(day=extract.referrals.date.epoch_days()).join(p.select("patient_id", "index_day"), "patient_id")
        r = r.filter(r.day <= r.index_day).group_by("patient_id").agg(referrals_before=ibis._.count())
        p = p.left_join(r, "patient_id").drop("patient_id_right")
    else:
        p = p.mutate(referrals_before=ibis.literal(0, "int64"))
    out = p.select("patient_id", "index_day", "birth_date", "sex", "first_depression_day", "first_exclusion_day",
                   prior_episodes=p.n_opens.fill_null(0), referrals_before=p.referrals_before.fill_null(0),
                   **{n: p[n].fill_null(False) for n in PREDICTOR_LISTS},
                   outcome=(p.trd_day.notnull() & (p.trd_day > p.index_day - 1) & (p.trd_day <= p.index_day + HORIZON_DAYS)))
    frame = con.execute(out.order_by("patient_id"))
    # Cohort at the index day (study-definition.md 2, as of that day), and age then, in vectorised pandas.
    index_date = pd.to_datetime(frame["index_day"], unit="D")
    born = pd.to_datetime(frame["birth_date"])
    before_birthday = (index_date.dt.month * 100 + index_date.dt.day) < (born.dt.month * 100 + born.dt.day)
    frame["age"] = (index_date.dt.year - born.dt.year - before_birthday.astype(int)).astype("Float64")
    dep, exc = pd.to_numeric(frame["first_depression_day"]), pd.to_numeric(frame["first_exclusion_day"])
    keep = (dep <= frame["index_day"]) & ~(exc <= frame["index_day"]) & ~(frame["age"] < config.cohort.min_age).fillna(False)
    frame = frame[keep.astype(bool)].drop(columns=["birth_date", "first_depression_day", "first_exclusion_day"])
    frame["age"] = frame["age"].fillna(frame["age"].median()).astype(float)
    groups = {v: sex_group(v)[0] for v in frame["sex"].dropna().unique()}
    frame["sex"] = frame["sex"].map(groups).fillna("unknown")
    frame["outcome"] = frame["outcome"].astype(bool)
    frame = frame.reset_index(drop=True)
    return frame


def _model(kind: str, categorical: list[str], numeric: list[str], binary: list[str]) -> Pipeline:
    if kind not in MODELS:
        raise UserError(f"--model must be one of {', '.join(MODELS)} (got {kind!r}).")
    pre = ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore", drop="if_binary"), categorical),
                             ("num", StandardScaler(), numeric), ("bin", "passthrough", binary)])
    clf = (LogisticRegression(C=1.0, max_iter=1000) if kind == "logistic"
           else HistGradientBoostingClassifier(max_depth=3, learning_rate=0.05, max_iter=200, random_state=0))
    return Pipeline([("pre", pre), ("clf", clf)])


def calibration(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """(slope, intercept): slope from logit(y) ~ a + b*logit(p); intercept (calibration-in-the-large)
    from logit(y) ~ a with logit(p) as offset (Van Calster et al. 2019)."""
    lp = np.log(np.clip(p, 1e-9, 1 - 1e-9) / (1 - np.clip(p, 1e-9, 1 - 1e-9)))
    slope = sm.GLM(y, sm.add_constant(lp), family=sm.families.Binomial()).fit().params[1]
    intercept = sm.GLM(y, np.ones_like(lp), family=sm.families.Binomial(), offset=lp).fit().params[0]
    return float(slope), float(intercept)


def evaluate(y: np.ndarray, p: np.ndarray, n_boot: int = 500, seed: int = 0) -> dict:
    """Discrimination, calibration, lift in the top fifth and net benefit of predictions `p` of outcomes `y`."""
    y, p = np.asarray(y, dtype=int), np.asarray(p, dtype=float)
    if y.min() == y.max():
        raise UserError("The test set has only one outcome class: no discrimination can be measured.")
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):  # bootstrap resamples of the test set (not patients one by one)
        idx = rng.integers(0, len(y), len(y))
        if y[idx].min() != y[idx].max():
            boots.append(roc_auc_score(y[idx], p[idx]))
    slope, intercept = calibration(y, p)
    top = p >= np.quantile(p, 0.8)
    thresholds = np.round(np.arange(0.05, 0.55, 0.05), 2)
    prevalence = y.mean()
    curve = []
    for th in thresholds:  # net benefit = TP/n - FP/n * th/(1-th) (Vickers & Elkin 2006)
        treat = p >= th
        k_tp, k_fp = int(np.sum(treat & (y == 1))), int(np.sum(treat & (y == 0)))
        tp, fp = k_tp / len(y), k_fp / len(y)
        # The counts behind each point are kept so the report can draw it from rounded counts (report.py).
        curve.append({"threshold": float(th), "net_benefit_model": tp - fp * th / (1 - th),
                      "net_benefit_all": prevalence - (1 - prevalence) * th / (1 - th),
                      "treated_events": k_tp, "treated_non_events": k_fp})
    # Calibration plot points: tenths of predicted risk (each a tenth of the test set, never a few patients).
    tenth = np.minimum((pd.Series(p).rank(method="first").to_numpy() - 1) * 10 // len(p), 9)
    bins = pd.DataFrame({"tenth": tenth, "p": p, "y": y}).groupby("tenth").agg(predicted=("p", "mean"), observed=("y", "mean"))
    return {"n": int(len(y)), "events": int(y.sum()), "auroc": float(roc_auc_score(y, p)),
            "calibration_points": bins.to_dict("records"),
            "auroc_ci": (float(np.quantile(boots, 0.025)), float(np.quantile(boots, 0.975))),
            "auprc": float(average_precision_score(y, p)), "prevalence": float(prevalence),
            "calibration_slope": slope, "calibration_intercept": intercept,
            "lift_top_fifth": float(y[top].mean() / prevalence), "decision_curve": curve}


def fit_and_evaluate(data: pd.DataFrame, kind: str = "logistic", test_fraction: float = 0.3, disclosure=None) -> dict:
    """Temporal split (the latest index days are the test set), fit, evaluate, and the published
    coefficients (logistic) or permutation-free importances (boosting: the model's own are not
    comparable, so none are published) under disclosure control."""
    categorical = ["sex"]
    numeric = [c for c in NUMERIC if c in data]
    from trdpath.nlp.patient import FLAG_COLUMNS

    binary = [c for c in (*PREDICTOR_LISTS, *FLAG_COLUMNS) if c in data]
    data = data.sort_values(["index_day", "patient_id"], kind="stable")
    cut = int(len(data) * (1 - test_fraction))
    train, test = data.iloc[:cut], data.iloc[cut:]
    if train["outcome"].nunique() < 2:
        raise UserError("The training period has only one outcome class: the model cannot be fitted.")
    model = _model(kind, categorical, numeric, binary).fit(train[categorical + numeric + binary], train["outcome"].astype(int))
    p = model.predict_proba(test[categorical + numeric + binary])[:, 1]
    result = {"model": kind, "train": {"n": len(train), "events": int(train["outcome"].sum()),
                                       "index_days": (int(train.index_day.min()), int(train.index_day.max()))},
              "test": evaluate(test["outcome"].astype(int).to_numpy(), p)}
    if kind == "logistic":
        names = model.named_steps["pre"].get_feature_names_out()
        coefs = pd.DataFrame({"predictor": names, "coefficient": model.named_steps["clf"].coef_[0]})
        # A binary predictor held by (or lacking in) fewer than min_count training patients is not published.
        counts = {f"bin__{c}": int(train[c].sum()) for c in binary}
        counts.update({n: int((train["sex"] == n.removeprefix("cat__sex_")).sum()) for n in names if n.startswith("cat__sex_")})
        if disclosure is not None and disclosure.enabled:
            small = coefs["predictor"].map(lambda n: n in counts and min(counts[n], len(train) - counts[n]) < disclosure.min_count)
            coefs["coefficient"] = coefs["coefficient"].round(3).astype(object).where(~small, small_label(disclosure))
        result["coefficients"] = coefs
    return result


def run_risk(data, out, model: str = "logistic", config=None, backend: str | None = None, mentions=None,
             overwrite: bool = False) -> str:
    """`trdpath risk`: dataset, temporal split, fit, evaluation and published coefficients into `out`.
    `mentions`: the mention table of `trdpath nlp extract`, whose flags then enter as predictors."""
    import json
    from pathlib import Path

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from trdpath.config import StudyConfig
    from trdpath.early.api import default_as_of, opened_extract
    from trdpath.output import check_output
    from trdpath.early.timeline import build_timeline
    from trdpath.atomic import replace_folder

    check_output(data, out, overwrite, [("--mentions", mentions)])
    config = config or StudyConfig()
    if model not in MODELS:
        raise UserError(f"--model must be one of {', '.join(MODELS)} (got {model!r}).")
    notes = read_mentions(mentions) if mentions is not None else None  # refused before any work
    with opened_extract(data, config, backend) as (con, extract):
        outcome_date = default_as_of(con, extract, config)
        frame = risk_dataset(build_timeline(con, extract, config, outcome_date), extract, outcome_date)
    if notes is not None:
        frame = add_notes_flags(frame, notes)
    if len(frame) < 50:
        raise UserError(f"Only {len(frame)} patients reach a first adequate trial with 12 months of follow-up: too few to fit a model.")
    result = fit_and_evaluate(frame, model, disclosure=config.disclosure)
    test = result["test"]
    with replace_folder(Path(out)) as folder:  # the whole output folder swapped in at once (trdpath.atomic)
        summary = {k: v for k, v in test.items() if k != "decision_curve"}
        summary.update({"notes_flags": notes is not None, "model": model, "train_n": result["train"]["n"], "train_events": result["train"]["events"],
                        "outcome": f"TRD within {HORIZON_DAYS} days of the first adequate trial",
                        "split": "temporal: the latest 30% of index days are the test set",
                        "not_a_medical_device": True})
        if config.disclosure.enabled:
            for key in ("n", "events", "train_n", "train_events"):
                summary[key] = _rounded(summary[key], config.disclosure)
        (folder / "risk_evaluation.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
        pd.DataFrame(test["decision_curve"]).to_csv(folder / "risk_decision_curve.csv", index=False)
        if "coefficients" in result:
            result["coefficients"].to_csv(folder / "risk_coefficients.csv", index=False)
        fig, ax = plt.subplots(figsize=(4, 4))
        ax.plot([0, 1], [0, 1], color="grey", linewidth=1)
        points = pd.DataFrame(test["calibration_points"])
        ax.plot(points["predicted"], points["observed"], marker="o")
        ax.set_xlabel("predicted risk")
        ax.set_ylabel("observed proportion")
        ax.set_title(f"Calibration: slope {test['calibration_slope']:.2f}, intercept {test['calibration_intercept']:.2f}", fontsize=8)
        fig.tight_layout()
        fig.savefig(folder / "risk_calibration.png", dpi=120)
        plt.close(fig)
    lo, hi = test["auroc_ci"]
    return (f"{model}: test AUROC {test['auroc']:.3f} (95% CI {lo:.3f}-{hi:.3f}), AUPRC {test['auprc']:.3f}, "
            f"calibration slope {test['calibration_slope']:.2f}, intercept {test['calibration_intercept']:.2f}, "
            f"lift in the top fifth {test['lift_top_fifth']:.2f}")


def _rounded(value: int, disclosure) -> int | str:
    from trdpath.stats.disclosure import round_count

    return small_label(disclosure) if 0 < value < disclosure.min_count else round_count(value, disclosure.rounding)
