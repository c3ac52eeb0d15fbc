"""What the generator can write: drugs and their name strings, ICD-10 codes, team names, labels.

Everything clinical comes from the shipped reference lists (``trdpath.reference``) so the synthetic
extract and the classifier agree on ingredients, brands, ATC codes and minimum doses; this module
only adds the messy surface an NHS extract has (dose text, case, brand spellings, team names).

Drug name strings are precomputed once into one dictionary; a prescription row carries only an
integer key ``(drug * N_VARIANTS + variant) * N_LEVELS + level`` so that the heavy tables are built
with numpy and never format a string per row.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from trdpath.config import StudyConfig
from trdpath.reference import ReferenceData

N_VARIANTS = 8
N_LEVELS = 6
# Dose levels 0 and 1 are below the minimum effective dose; 2.. are at or above it.
ADEQUATE_LEVELS = (2, 3, 4, 5)
ADEQUATE_LEVEL_WEIGHTS = (0.45, 0.25, 0.2, 0.1)

# Market share-like weights for choosing antidepressants (commonest first); others get 0.5.
AD_POPULARITY = {
    "sertraline": 10, "citalopram": 8, "fluoxetine": 7, "mirtazapine": 7, "venlafaxine": 6,
    "escitalopram": 4, "duloxetine": 4, "amitriptyline": 3, "trazodone": 2, "vortioxetine": 1.5,
    "paroxetine": 1.5, "agomelatine": 1, "lofepramine": 1, "clomipramine": 1, "bupropion": 0.5,
}
AUG_POPULARITY = {
    "quetiapine": 10, "aripiprazole": 6, "lithium": 5, "olanzapine": 2, "risperidone": 1.5,
    "lamotrigine": 1, "liothyronine": 0.8, "brexpiprazole": 0.3, "cariprazine": 0.3, "esketamine": 0.3,
}
# Typical strengths (mg) of augmenting agents, low to high (the classifier ignores their dose).
AUG_STRENGTHS = {
    "lithium": (200, 400, 400, 600, 800, 1000), "quetiapine": (25, 50, 150, 200, 300, 600),
    "aripiprazole": (2, 5, 5, 10, 15, 20), "olanzapine": (2.5, 5, 5, 10, 15, 20),
    "risperidone": (0.5, 1, 1, 2, 3, 4), "brexpiprazole": (0.5, 1, 1, 2, 3, 3),
    "cariprazine": (1.5, 3, 3, 4.5, 6, 6), "liothyronine": (0.005, 0.01, 0.01, 0.02, 0.02, 0.04),
    "lamotrigine": (25, 50, 50, 100, 200, 200), "esketamine": (28, 56, 56, 84, 84, 84),
}
# Prescriptions an EPMA extract also holds that are neither antidepressants nor augmenting agents
# (hypnotics, anxiolytics, physical health), plus misspellings: all must stay unmapped.
NOISE_DRUGS = (
    ("zopiclone", "N05CF01", (3.75, 7.5, 7.5, 7.5, 7.5, 7.5)),
    ("diazepam", "N05BA01", (2, 5, 5, 10, 10, 10)),
    ("propranolol", "C07AA05", (10, 40, 40, 80, 80, 160)),
    ("omeprazole", "A02BC01", (10, 20, 20, 20, 40, 40)),
    ("pregabalin", "N03AX16", (25, 75, 75, 150, 150, 300)),
    ("promethazine", "R06AD02", (10, 25, 25, 25, 50, 50)),
    ("procyclidine", "N04AA04", (2.5, 5, 5, 5, 5, 5)),
    ("melatonin", "N05CH01", (2, 2, 2, 2, 3, 3)),
    ("setraline", "", (50, 50, 50, 100, 100, 100)),
    ("fluoxetene", "", (20, 20, 20, 20, 40, 40)),
    ("mirtazepine", "", (15, 15, 30, 30, 45, 45)),
    ("venlafaxin", "", (75, 75, 75, 150, 150, 150)),
)
N_MISSPELT = 4  # the last four noise drugs are misspelt antidepressants
FORMS = {
    "fluoxetine": "capsules", "venlafaxine": "modified-release capsules", "duloxetine": "gastro-resistant capsules",
    "mirtazapine": "orodispersible tablets", "lithium": "modified-release tablets", "esketamine": "nasal spray",
    "omeprazole": "gastro-resistant capsules", "pregabalin": "capsules", "clomipramine": "capsules",
}
VARIANT_WEIGHTS = np.array([0.2, 0.25, 0.15, 0.08, 0.1, 0.05, 0.07, 0.1])

# ICD-10 codes written for each list (as recorded: with the dot, upper case; formatting varies later).
EXCLUSION_CODES = {
    "bipolar_or_mania": ("F31.1", "F31.3", "F31.6", "F31.9", "F30.1", "F30.9", "F31.4"),
    "psychosis": ("F20.0", "F20.9", "F25.1", "F23.9", "F29", "F22.0", "F28", "F21", "F24"),
    "dementia": ("F00.1", "F01.9", "F03", "G30.1", "G30.9", "F02.3"),
    "cognitive_or_neurological": ("F06.7", "F07.0", "G40.9", "G40.3", "G41.0", "G35", "G20", "G12.2",
                                  "G31.8", "F04", "G25.3", "G36.0", "F09"),
}
COMORBIDITY_CODES = {
    "alcohol": ("F10.1", "F10.2", "F10.0", "F10.3"),
    "drugs": ("F11.2", "F12.1", "F12.2", "F14.2", "F15.1", "F16.1", "F18.1"),
    "sedatives": ("F13.2", "F13.1"),
    "tobacco": ("F17.2", "F17.1"),
    "other_drugs": ("F19.2", "F19.1"),
    "anxiety": ("F41.1", "F41.0", "F41.2", "F40.1", "F40.0", "F43.1", "F41.9"),
    "eating_disorder": ("F50.0", "F50.2", "F50.9"),
    "personality_disorder": ("F60.3", "F60.31", "F60.6", "F60.9", "F61"),
    "developmental": ("F84.5", "F84.0", "F90.0", "F81.0"),  # F90 is ADHD: outside F80-F89 on purpose
    "diabetes_type1": ("E10.9", "E10.6"),
    "diabetes_type2": ("E11.9", "E11.6", "E11.2"),
    "diabetes_unspecified": ("E14.9", "E13.9"),
    "cardiovascular": ("I10", "I25.1", "I83.9", "I48", "I21.9", "I63.9"),
    "respiratory": ("J45.9", "J44.9", "J18.9", "J20.9", "J06.9"),
    "gastrointestinal": ("K58.9", "K25.9", "K70.3", "K21.9", "K29.7"),
    "self_harm": ("X60", "X61", "X78", "X84", "Z91.5", "X70"),
}
# Codes with no flag of their own (adjustment disorder, OCD, dysthymia, back pain, social problems).
OTHER_CODES = ("F43.2", "F42.2", "F34.1", "M54.5", "Z63.0", "R45.8", "F43.0", "Z73.0")
NON_DEPRESSION_CODES = ("F41.1", "F43.2", "F34.1", "F42.1", "F60.3", "F43.1", "F38.1", "F39")
F32_SUBCODES = ("F32", "F32.0", "F32.1", "F32.2", "F32.8", "F32.9", "F32.1", "F32.9")
F33_SUBCODES = ("F33", "F33.0", "F33.1", "F33.2", "F33.4", "F33.8", "F33.9", "F33.1")

# Trust team names per service category (study-definition.md 7); the generator leaves service_category
# mostly empty so that the classifier's pattern mapping is exercised.
TEAMS = {
    "community": ("CMHT North", "CMHT South", "CMHT East", "Community Mental Health Team West",
                  "Home Treatment Team", "Liaison Psychiatry", "HTT Central"),
    "urgent_care": ("Crisis Resolution", "Crisis Line", "Psychiatric Decision Unit", "Street Triage",
                    "Urgent Care Team"),
    "specialist": ("Psychology Service", "Psychotherapy", "ECT clinic", "Perinatal Mental Health",
                   "Eating Disorders Service", "Neuropsychiatry Clinic"),
    "inpatient": ("Ward 3 (acute)", "Inpatient Unit", "PICU", "Ward 7", "Acute Unit"),
    "forensic": ("Forensic outreach", "Low Secure Unit", "Prison In-reach"),
    "addiction": ("Drug and Alcohol Service", "Substance Misuse Team", "Addiction Service"),
}
SEX_LABELS = {
    "female": ("Female", "F", "female", "FEMALE"),
    "male": ("Male", "M", "male", "MALE"),
    "other": ("Other", "Indeterminate"),
    "unknown": ("Unknown", "U", ""),
}


def _fmt_strength(drug: str, mg: float) -> str:
    if drug == "liothyronine":
        return f"{mg * 1000:g}microgram"
    return f"{mg:g}mg"


@dataclass
class Catalogue:
    """Drugs (antidepressants, then augmenting agents, then noise) and the strings to write."""

    names: list[str]
    atc: list[str]
    min_dose: np.ndarray            # per drug; NaN for non-antidepressants
    strengths: np.ndarray           # (n_drugs, N_LEVELS) mg
    n_ad: int
    n_aug: int
    ad_weights: np.ndarray
    aug_weights: np.ndarray
    drug_text: list[str]            # indexed by text key
    ethnicity_labels: dict[str, tuple[str, ...]] = field(default_factory=dict)
    employment_labels: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def noise_start(self) -> int:
        return self.n_ad + self.n_aug

    def text_key(self, drug: np.ndarray, variant: np.ndarray, level: np.ndarray) -> np.ndarray:
        return (drug.astype(np.int64) * N_VARIANTS + variant) * N_LEVELS + level


def _ad_strengths(ingredient: str, klass: str, min_dose: float) -> tuple[float, ...]:
    if klass == "TCA":
        low = (10.0, 25.0) if min_dose == 75 else (min_dose / 2, min_dose / 2)
    else:
        low = (min_dose / 2, min_dose / 2)
    return (*low, min_dose, min_dose * 1.5, min_dose * 2, min_dose * 3)


def _variants(generic: str, brand: str | None, strength: str, form: str) -> list[str]:
    """The eight spellings a prescribing system produces for one product."""
    title = generic.capitalize()
    brand_title = brand.capitalize() if brand else title
    if brand == "efexor":
        brand_title = "Efexor XL"
    return [
        title,
        f"{title} {strength} {form}",
        f"{generic} {strength} {form}",
        f"{generic.upper()} {strength.upper()} {'CAPS' if 'capsules' in form else 'TABS'}",
        brand_title,
        (brand_title if brand else title).upper(),
        f"{(brand_title if brand else title).lower() if brand != 'efexor' else 'efexor XL'} {strength}",
        f"{title} {strength.replace('mg', ' mg')} {form}",
    ]


def build_catalogue(config: StudyConfig | None = None) -> Catalogue:
    ref = ReferenceData(config or StudyConfig())
    ads = ref.antidepressants
    augs = ref.augmenting_agents
    names, atc, min_dose, strengths, ad_w, aug_w = [], [], [], [], [], []
    brands: list[str | None] = []
    for row in ads.itertuples(index=False):
        names.append(row.ingredient)
        atc.append(row.atc_code)
        min_dose.append(float(row.min_daily_dose_mg))
        strengths.append(_ad_strengths(row.ingredient, row[2], float(row.min_daily_dose_mg)))
        syn = [s for s in str(row.synonyms).split("|") if s]
        brands.append(syn[0] if syn else None)
        ad_w.append(AD_POPULARITY.get(row.ingredient, 0.5))
    for row in augs.itertuples(index=False):
        names.append(row.ingredient)
        atc.append(row.atc_code)
        min_dose.append(np.nan)
        strengths.append(AUG_STRENGTHS.get(row.ingredient, (1, 2, 2, 5, 10, 10)))
        syn = [s for s in str(row.synonyms).split("|") if s]
        brands.append(syn[0] if syn else None)
        aug_w.append(AUG_POPULARITY.get(row.ingredient, 0.3))
    for name, code, strength in NOISE_DRUGS:
        names.append(name)
        atc.append(code)
        min_dose.append(np.nan)
        strengths.append(strength)
        brands.append(None)
    texts: list[str] = []
    for d, name in enumerate(names):
        form = FORMS.get(name, "tablets")
        for v in range(N_VARIANTS):
            for lvl in range(N_LEVELS):
                texts.append(_variants(name, brands[d], _fmt_strength(name, strengths[d][lvl]), form)[v])
    eth = ref.ethnicity.assign(value=lambda f: f["value"].astype(str))
    emp = ref.employment
    cat = Catalogue(
        names=names, atc=atc, min_dose=np.array(min_dose), strengths=np.array(strengths, dtype=float),
        n_ad=len(ads), n_aug=len(augs), ad_weights=np.array(ad_w) / sum(ad_w),
        aug_weights=np.array(aug_w) / sum(aug_w), drug_text=texts,
        ethnicity_labels={g: tuple(eth.loc[eth["ethnicity_group"] == g, "value"]) for g in eth["ethnicity_group"].unique()},
        employment_labels={g: tuple(emp.loc[emp["employment_group"] == g, "value"]) for g in emp["employment_group"].unique()},
    )
    return cat
