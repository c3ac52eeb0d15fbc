"""Calibration targets: the seed paper's figures (000_c1cdf4090bc5f026, Tables 1-2 and Results).

Each pair is (MDD, TRD). Covariates are drawn *given* the latent group, so the generated cohort
reproduces the paper's rates by group and hence, roughly, its odds ratios (Table 3).
"""

from __future__ import annotations

EXTRACT_DATE = "2021-10-31"  # Table 1 note d: "Point of data extraction was October 2021".

# Who is in the extract: the cohort, and patients each cohort rule must exclude (study-definition.md 2).
STATUS_PROBS = {
    "cohort": 0.80,
    "no_depression_diagnosis": 0.06,
    "under_18": 0.03,
    "bipolar_or_mania": 0.03,
    "psychosis": 0.03,
    "dementia": 0.015,
    "cognitive_or_neurological": 0.02,
    "no_antidepressant": 0.015,
}

# Results: 2461 of 5136 (47.92%) met TRD criteria.
TRD_PREVALENCE = 0.4792
# Results: 946 / 529 / 986 with 2 / 3 / 4+ antidepressants (35.40% / 19.78% / 36.93%, which sum to 92%
# in the paper); normalised to 38% / 22% / 40%.
LEVEL_PROBS = {2: 0.38, 3: 0.22, 4: 0.40}
# Within 4+: how many antidepressants (4, 5, 6, 7).
FOUR_PLUS_COUNTS = ((4, 0.5), (5, 0.25), (6, 0.15), (7, 0.10))
# MDD (non-TRD) patients: distinct antidepressants in the current episode (1, 2, 3, 4).
MDD_COUNTS = ((1, 0.45), (2, 0.35), (3, 0.15), (4, 0.05))

# Table 1.
F33 = (0.2662, 0.3176)
PSYCHOTIC = (0.0830, 0.1503)
DEATH = (0.0720, 0.0570)
AGE_AT_EXTRACTION = ((49.28, 16.56), (49.24, 15.53))
AGE_AT_DEATH = ((65.41, 17.62), (60.10, 16.00))
# Black, Mixed, South Asian, White, Other, Unknown (Other is the remainder of 100%).
ETHNICITY = {
    "Black": (0.0520, 0.0402), "Mixed": (0.0254, 0.0260), "South Asian": (0.1649, 0.1690),
    "White": (0.6796, 0.7026), "Other": (0.0030, 0.0021), "Unknown": (0.0751, 0.0601),
}
EMPLOYMENT = {
    "Employed": (0.1252, 0.1308), "Unemployed (seeking)": (0.0874, 0.0947),
    "Economically inactive": (0.3260, 0.4124), "Unknown": (0.4613, 0.3620),
}
SEX = {"female": 0.62, "male": 0.37, "other": 0.004, "unknown": 0.006}

# Table 2 (the flag columns of study-definition.md 6). Diabetes unspecified uses ~0.4% for TRD: the
# paper's 45 (1.83%) repeats the type 2 row and cannot be right (type 1 + 2 + unspecified > total).
COMORBIDITY = {
    "alcohol": (0.0942, 0.0918), "drugs": (0.0224, 0.0297), "sedatives": (0.0015, 0.0041),
    "tobacco": (0.0460, 0.0691), "other_drugs": (0.0175, 0.0138), "anxiety": (0.2450, 0.3080),
    "eating_disorder": (0.0187, 0.0158), "personality_disorder": (0.1118, 0.1654),
    "developmental": (0.0157, 0.0179), "diabetes_type1": (0.00376, 0.00653),
    "diabetes_type2": (0.0116, 0.0183), "diabetes_unspecified": (0.0026, 0.0040),
    "cardiovascular": (0.0333, 0.0549), "respiratory": (0.0277, 0.0378),
    "gastrointestinal": (0.0236, 0.0479),
}
# Coded self-harm (X60-X84, Z91.5): 0.90% v. 2.70%. The paper (Discussion) says codes miss most
# self-harm, which lives in free-text notes; the notes truth below is set well above the codes.
CODED_SELF_HARM = (0.0090, 0.0270)
NOTES_SELF_HARM = (0.12, 0.25)
NOTES_SUICIDAL_IDEATION = (0.25, 0.40)
SUICIDAL_IDEATION_IF_SELF_HARM = 0.70
SUICIDE_ATTEMPT_IF_SELF_HARM = 0.30

# "Greater treatment resistance was linked to ..." (Results): the TRD excess over MDD is scaled by
# level so that the TRD average stays at the paper's TRD rate: 0.38*0.7 + 0.22*1.0 + 0.40*1.3 ~ 1.
LEVEL_GRADIENT = {2: 0.7, 3: 1.0, 4: 1.3}

# Service use (Results, Supplementary Fig. 2): share of referrals per category.
REFERRAL_MIX = {
    "community": (0.45, 0.40), "urgent_care": (0.265, 0.26), "specialist": (0.15, 0.20),
    "inpatient": (0.03, 0.05), "forensic": (0.035, 0.02), "addiction": (0.07, 0.07),
}
REFERRALS_PER_PATIENT = (1.6, 2.1)
SERVICE_CATEGORY_FILLED = 0.10  # most trusts leave the category empty; it is mapped from the team name
