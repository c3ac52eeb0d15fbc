"""Synthetic UK psychiatric notes whose truth is known, for the demo extract and for testing the NLP.

Every patient gets 0-5 notes of about 100 words dated within two years on or before their index date.
A patient whose truth is True gets at least one note with an affirmed mention (current or historical);
any patient may get distractors that must not count: negated ("denies SI"), family or other people
("her mother self-harmed"), risk / hypothetical ("risk of self-harm assessed as low"), and once-daily
dosing ("sertraline 50mg OD"). Truth follows NICE NG225: a suicide attempt is also self-harm.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# {p} she/he, {P} She/He, {o} her/him, {s} her/his, {S} Her/His, {r} herself/himself
FILLER = [
    "Seen for review in clinic with {s} care coordinator.",
    "{P} describes low mood most days and poor motivation.",
    "Sleep remains poor with early morning waking.",
    "Appetite reduced and {p} has lost some weight.",
    "{P} continues sertraline 100mg OD with partial response.",
    "Mirtazapine 30mg ON was started at the last review.",
    "Currently taking venlafaxine 150mg OD and tolerating it.",
    "Citalopram 20mg OD was stopped because of nausea.",
    "{P} lives with {s} partner and two children.",
    "{P} is off work on sick leave and finding the days long.",
    "Concentration is poor and {p} struggles to read.",
    "Anhedonia persists and {p} has stopped seeing friends.",
    "Reports feeling hopeless about treatment after several medications.",
    "PHQ-9 today was 19, similar to last month.",
    "Objectively low in mood with reduced reactivity.",
    "Speech normal in rate and volume, no formal thought disorder.",
    "No psychotic features elicited at interview.",
    "Insight good and {p} engaged well with the assessment.",
    "Attends with {s} sister who is supportive.",
    "Alcohol one or two units per week, no illicit drugs.",
    "Physical health: hypertension, on amlodipine 5mg OD.",
    "Discussed augmentation with lithium and the monitoring it needs.",
    "Referred to psychology for CBT, waiting list about six months.",
    "GP to continue prescribing, bloods requested.",
    "Plan to review in four weeks in outpatient clinic.",
    "{P} was given written information about the medication.",
    "Home Treatment Team involvement was discussed but not needed.",
    "Anxiety is prominent in the mornings with worry about money.",
]
SELF_HARM = [
    "{P} cut {s} forearms last week after an argument and did not seek help.",
    "Took an overdose of 16 paracetamol tablets on Saturday and attended A&E.",
    "Disclosed self-harm by cutting {s} thighs over the past month.",
    "{P} has been self-harming by burning {s} arms with a lighter.",
    "Admitted to the ward following an overdose of sertraline and co-codamol.",
    "History of self-harm by cutting since age 15.",
    "Previous overdose in 2017 requiring medical admission.",
    "Fresh superficial cuts seen on {s} left forearm today.",
    "{P} tied a ligature around {s} neck on Tuesday and removed it {r}.",
    "Self-harmed twice this month by scratching {s} arms.",
]
SUICIDAL_IDEATION = [
    "{P} reports ongoing suicidal ideation most days.",
    "Describes passive thoughts of ending {s} life.",
    "Expressed suicidal thoughts at interview today.",
    "{P} says {p} often wishes {p} was dead.",
    "Reports thoughts of suicide over the past fortnight.",
    "Feels life is not worth living and has thought about how {p} would do it.",
    "Active SI with a plan to jump from a bridge.",
]
SUICIDE_ATTEMPT = [
    "Previous suicide attempt by hanging in 2016.",
    "{P} attempted suicide last month by walking into traffic.",
    "History of two suicide attempts in {s} twenties.",
    "Tried to kill {r} in January and was found by a neighbour.",
    "Admitted after an attempt on {s} life last year.",
]
DISTRACTORS = [
    "Denies suicidal ideation or thoughts of self-harm.",
    "No thoughts of self-harm or suicide.",
    "SI/SH: nil.",
    "{P} has never self-harmed.",
    "No history of overdose.",
    "Risk of self-harm assessed as low.",
    "Advised to contact the crisis line if {p} feels suicidal.",
    "{S} mother self-harmed as a teenager.",
    "{S} father died by suicide and {s} sister has a history of overdose.",
    "{S} friend self-harms and this worries {o}.",
    "Self-harm in {s} mother when {p} was a child.",
    "Sertraline 50mg OD.",
    "Fluoxetine 20mg OD continued.",
    "Not currently suicidal.",
    "Suicidal ideation denied.",
    "Safety plan reviewed in case suicidal thoughts return.",
]
_PRONOUNS = {
    "female": dict(p="she", P="She", o="her", s="her", S="Her", r="herself"),
    "male": dict(p="he", P="He", o="him", s="his", S="His", r="himself"),
}


def _render(pool: list[str]) -> dict[str, np.ndarray]:
    return {sex: np.array([t.format(**words) for t in pool], dtype=object) for sex, words in _PRONOUNS.items()}


_POOLS = {name: _render(pool) for name, pool in
          [("filler", FILLER), ("self_harm", SELF_HARM), ("suicidal_ideation", SUICIDAL_IDEATION),
           ("suicide_attempt", SUICIDE_ATTEMPT), ("distractor", DISTRACTORS)]}

TRUTH = ("self_harm", "suicidal_ideation", "suicide_attempt")


def make_notes(patients: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(notes, truth) for patients with patient_id, index_date, self_harm, suicidal_ideation, suicide_attempt
    (and optionally sex, which sets the pronouns).

    notes: patient_id, note_id, date, text. truth: patient_id, self_harm_true, suicidal_ideation_true,
    suicide_attempt_true (self_harm_true includes suicide attempts, NICE NG225).
    """
    missing = [c for c in ("patient_id", "index_date", *TRUTH) if c not in patients.columns]
    if missing:
        raise ValueError(f"make_notes needs column(s) {missing}")
    rng = np.random.default_rng(seed)
    n = len(patients)
    ids = patients["patient_id"].astype(str).to_numpy()
    index_dates = pd.to_datetime(patients["index_date"])
    if index_dates.isna().any():
        raise ValueError("make_notes needs an index_date for every patient (notes are dated before it)")
    index_dates = index_dates.to_numpy("datetime64[D]")
    truth = {k: patients[k].fillna(False).astype(bool).to_numpy() for k in TRUTH}
    positive = truth["self_harm"] | truth["suicidal_ideation"] | truth["suicide_attempt"]
    n_notes = rng.integers(0, 6, size=n)
    n_notes = np.where(positive, np.maximum(n_notes, 1), n_notes)
    # Pronouns follow the patient's recorded sex when given (optional 'sex' column), else 60% female.
    female = rng.random(n) < 0.6
    if "sex" in patients.columns:
        recorded = patients["sex"].fillna("").astype(str).str.strip().str.lower().str[:1].to_numpy()
        female = np.where(recorded == "f", True, np.where(recorded == "m", False, female))

    note_patient = np.repeat(np.arange(n), n_notes)
    total = len(note_patient)
    note_rank = np.arange(total) - np.repeat(np.cumsum(n_notes) - n_notes, n_notes)
    days_before = rng.integers(0, 731, size=total)
    note_dates = index_dates[note_patient] - days_before.astype("timedelta64[D]")

    # ~100 words: 9 to 11 filler sentences of ~10-12 words, a distractor in about half the notes.
    n_filler = rng.integers(9, 12, size=total)
    # distinct filler sentences within a note
    filler_pick = rng.random((total, len(FILLER))).argsort(axis=1)[:, :11]
    has_distractor = rng.random(total) < 0.5
    distractor_pick = rng.integers(0, len(DISTRACTORS), size=total)
    # Each positive category is written into one of the patient's notes, chosen at random.
    host_rank = {k: (rng.random(n) * n_notes).astype(int) for k in TRUTH}
    host_pick = {k: rng.integers(0, len(_POOLS[k]["female"]), size=total) for k in TRUTH}
    insert_at = rng.integers(0, 8, size=total)

    texts = []
    for i in range(total):  # string assembly only; all random draws above are vectorised
        patient = note_patient[i]
        sex = "female" if female[patient] else "male"
        sentences = list(_POOLS["filler"][sex][filler_pick[i, : n_filler[i]]])
        if has_distractor[i]:
            sentences.insert(insert_at[i] % (len(sentences) + 1), _POOLS["distractor"][sex][distractor_pick[i]])
        for k in TRUTH:
            if truth[k][patient] and host_rank[k][patient] == note_rank[i]:
                sentences.insert((insert_at[i] + 3) % (len(sentences) + 1), _POOLS[k][sex][host_pick[k][i]])
        texts.append(" ".join(sentences))

    notes = pd.DataFrame({
        "patient_id": ids[note_patient],
        "note_id": [f"N{seed}-{i:07d}" for i in range(total)],
        "date": pd.to_datetime(note_dates).date,
        "text": texts,
    })
    truth_table = pd.DataFrame({
        "patient_id": ids,
        "self_harm_true": truth["self_harm"] | truth["suicide_attempt"],
        "suicidal_ideation_true": truth["suicidal_ideation"],
        "suicide_attempt_true": truth["suicide_attempt"],
    })
    return notes, truth_table
