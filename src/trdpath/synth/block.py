"""One block of synthetic patients: latent truth first, then the event tables that realise it.

A block is a fixed run of consecutive patients with its own random stream
(``SeedSequence([seed, block_number])``), so the output does not depend on how blocks are grouped
into chunks: chunked and unchunked runs write the same rows.

Design (see docs/synthetic-data.md):
1. Latent truth per patient: cohort status or the one exclusion rule that must fire, the TRD group
   and resistance level, and a *template*: the roles of the antidepressant lines in the current
   episode (PRE = inadequate before the first adequate trial, A1 / A2 = the two failed adequate
   trials, POST = a further antidepressant after the second trial's adequacy date T2, MID = an
   inadequate line between A1 and A2, COMBO = a third antidepressant started *before* T2,
   RESTART = A1 again after a gap) and of the augmenting agent (after T2 overlapping an
   antidepressant, before T2, or after every antidepressant has stopped).
2. Lines are scheduled slot by slot (a loop over at most 8 slots, vectorised over patients) so that
   each template is realised under study-definition.md with margins of at least a week around every
   threshold, then expanded to repeat prescriptions (every 28 days with small gaps).
"""

from __future__ import annotations

import numpy as np

from trdpath.config import StudyConfig
from trdpath.synth import calibration as cal
from trdpath.synth.catalogue import (
    ADEQUATE_LEVEL_WEIGHTS, ADEQUATE_LEVELS, COMORBIDITY_CODES, EXCLUSION_CODES, F32_SUBCODES, F33_SUBCODES,
    N_LEVELS, N_MISSPELT, NON_DEPRESSION_CODES, NOISE_DRUGS, OTHER_CODES, SEX_LABELS,
    TEAMS, VARIANT_WEIGHTS, Catalogue,
)

# The rule thresholds the templates are built around, from the configuration's defaults (study-definition.md
# 2-4), so a change of default moves the generator with it; margins below are relative to these.
_DEFAULTS = StudyConfig()
MIN_AGE = _DEFAULTS.cohort.min_age  # 18
ERA_GAP_DAYS = _DEFAULTS.treatment.era_gap_days  # 30
MIN_TRIAL_DAYS = _DEFAULTS.treatment.min_trial_days  # 28
EPISODE_GAP_DAYS = _DEFAULTS.treatment.episode_gap_days  # 183

BLOCK_SIZE = 2048
MAX_SLOTS = 8

NONE, PRE, A1, A2, POST, COMBO, MID, RESTART = range(8)
AUG_NONE, AUG_POST, AUG_PRE, AUG_NONOVERLAP = range(4)
KIND_ADEQUATE, KIND_SHORT, KIND_LOW = range(3)
STATUSES = tuple(cal.STATUS_PROBS)
LEVEL_NAMES = {2: "2", 3: "3", 4: "4+"}


def _templates():
    """(group, n_antidepressants, roles, augmentation, weight). group 1 = TRD, 0 = MDD."""
    out = [
        (1, 2, (A1, A2), AUG_POST, 1.0),
        (1, 3, (A1, A2, POST), AUG_NONE, 0.5),
        (1, 3, (A1, A2, POST), AUG_POST, 0.15),
        (1, 3, (PRE, A1, A2), AUG_POST, 0.2),
        (1, 3, (A1, MID, A2), AUG_POST, 0.15),
        (0, 1, (A1,), AUG_NONE, 0.47),
        (0, 1, (A1,), AUG_PRE, 0.08),
        (0, 1, (PRE,), AUG_NONE, 0.40),
        (0, 1, (PRE,), AUG_PRE, 0.05),
        (0, 2, (PRE, A1), AUG_NONE, 0.35),
        (0, 2, (A1, A2), AUG_NONE, 0.20),
        (0, 2, (A1, A2), AUG_NONOVERLAP, 0.08),
        (0, 2, (A1, A2), AUG_PRE, 0.07),
        (0, 2, (A1, A2, RESTART), AUG_NONE, 0.15),
        (0, 2, (A1, PRE), AUG_NONE, 0.15),
        (0, 3, (PRE, A1, A2), AUG_NONE, 0.4),
        (0, 3, (A1, A2, COMBO), AUG_NONE, 0.3),
        (0, 3, (A1, MID, A2), AUG_NONE, 0.3),
        (0, 4, (PRE, PRE, A1, A2), AUG_NONE, 1.0),
    ]
    for n in (4, 5, 6, 7):
        out += [
            (1, n, (A1, A2) + (POST,) * (n - 2), AUG_NONE, 0.45),
            (1, n, (A1, A2) + (POST,) * (n - 2), AUG_POST, 0.15),
            (1, n, (PRE, A1, A2) + (POST,) * (n - 3), AUG_NONE, 0.25),
            (1, n, (A1, MID, A2) + (POST,) * (n - 3), AUG_NONE, 0.15),
        ]
    return out


TEMPLATES = _templates()
TEMPLATE_ROLES = np.zeros((len(TEMPLATES), MAX_SLOTS), dtype=np.int8)
for _i, _t in enumerate(TEMPLATES):
    TEMPLATE_ROLES[_i, : len(_t[2])] = _t[2]
TEMPLATE_AUG = np.array([t[3] for t in TEMPLATES], dtype=np.int8)
TEMPLATE_HAS_COMBO = (TEMPLATE_ROLES == COMBO).any(axis=1)


def _choice(rng, n, probs):
    probs = np.asarray(probs, dtype=float)
    return np.searchsorted(np.cumsum(probs / probs.sum()), rng.random(n), side="right").clip(0, len(probs) - 1)


def _uniform_int(rng, lo, hi):
    """Integers uniform in [lo, hi] (inclusive), elementwise; lo/hi arrays or scalars."""
    lo = np.asarray(lo)
    hi = np.asarray(hi)
    return (lo + np.floor(rng.random(np.broadcast(lo, hi).shape) * (hi - lo + 1))).astype(np.int64)


def _by_group(pairs, trd, level):
    """Per-patient rate from an (MDD, TRD) pair, with the TRD excess scaled by resistance level."""
    mdd, trd_rate = pairs
    grad = np.select([level == 2, level == 3, level >= 4],
                     [cal.LEVEL_GRADIENT[2], cal.LEVEL_GRADIENT[3], cal.LEVEL_GRADIENT[4]], 1.0)
    return np.where(trd, np.clip(mdd + (trd_rate - mdd) * grad, 0, 1), mdd)


class _Rows:
    """Column arrays appended slot by slot, concatenated once."""

    def __init__(self, names):
        self.cols = {n: [] for n in names}

    def add(self, **arrays):
        for k, v in arrays.items():
            self.cols[k].append(np.asarray(v))

    def get(self):
        empty = {"dose_missing": bool, "is_noise": bool}
        return {k: (np.concatenate(v) if v else np.zeros(0, dtype=empty.get(k, np.int64)))
                for k, v in self.cols.items()}


RX_COLUMNS = ("pid", "drug", "start", "supply", "level", "dose_missing", "pos", "is_noise")


def _expand(rng, rx: _Rows, pid, drug, start, n_rx, supply, tit, level, *, allow_break=None,
            extras=True, short_supply=None, is_noise=False):
    """Expand courses into repeat prescriptions; returns each course's actual end day.

    A course of ``n_rx`` prescriptions of ``supply`` days; the next one starts ``supply + extra``
    days after the previous start: extra is usually 0, sometimes 1-10, sometimes 25-30 (just under
    the 30-day era gap, so still one era) and, where ``allow_break``, once 31-45 (just over: a new
    era of the same drug, placed after the second adequate prescription so adequacy is unchanged).
    With titration (``tit``) the first prescription is 14 days at half the minimum dose.
    """
    m = len(pid)
    if m == 0:
        return np.zeros(0, dtype=np.int64)
    n_rx = np.maximum(n_rx, 1).astype(np.int64)
    total = int(n_rx.sum())
    course = np.repeat(np.arange(m), n_rx)
    first = np.cumsum(n_rx) - n_rx
    pos = np.arange(total) - first[course]
    sup = np.repeat(supply, n_rx).astype(np.int64)
    if short_supply is not None:
        sup = np.where(np.repeat(short_supply, n_rx) > 0, np.repeat(short_supply, n_rx), sup)
    has_tit = np.repeat(tit > 0, n_rx)
    tit_rx = has_tit & (pos == 0)
    sup = np.where(tit_rx, 14, sup)
    extra = np.zeros(total, dtype=np.int64)
    if extras:
        u = rng.random(total)
        extra = np.where(u < 0.15, _uniform_int(rng, np.ones(total), 10), extra)
        extra = np.where(u > 0.96, _uniform_int(rng, np.full(total, ERA_GAP_DAYS - 5), ERA_GAP_DAYS), extra)
        extra[tit_rx] = 0
    if allow_break is not None:
        tit_n = (tit > 0).astype(np.int64)
        can = allow_break & (n_rx >= tit_n + 4) & (rng.random(m) < 0.12)
        # interval after prescription j (0-based) with j >= tit + 1: the first adequate-dose era
        # already holds two prescriptions (>= 56 days) before the break.
        j = _uniform_int(rng, tit_n + 1, np.maximum(n_rx - 2, tit_n + 1))
        idx = (first + j)[can]
        extra[idx] = _uniform_int(rng, np.full(len(idx), ERA_GAP_DAYS + 1), ERA_GAP_DAYS + 15)
    interval = sup + extra
    csum = np.cumsum(interval)
    offset = csum - interval - (csum[first] - interval[first])[course]
    rx_start = np.repeat(start, n_rx) + offset
    lvl = np.repeat(level, n_rx)
    lvl = np.where(tit_rx, 1, lvl)
    last = first + n_rx - 1
    course_end = rx_start[last] + sup[last]
    rx.add(pid=np.repeat(pid, n_rx), drug=np.repeat(drug, n_rx), start=rx_start, supply=sup,
           level=lvl, dose_missing=np.zeros(total, dtype=bool), pos=pos,
           is_noise=np.full(total, is_noise))
    return course_end


def _distinct_drugs(rng, n, weights, k):
    """k distinct drug indices per row, weighted without replacement (Gumbel top-k)."""
    keys = np.log(weights)[None, :] - np.log(-np.log(rng.random((n, len(weights)))))
    return np.argsort(-keys, axis=1)[:, :k]


def generate_block(rng: np.random.Generator, first_index: int, n: int, cat: Catalogue, extract_day: int):
    """Latent truth and raw rows for patients ``first_index .. first_index + n - 1``.

    Returns (truth, tables) as dicts of numpy arrays; the writer turns them into Arrow tables.
    """
    # ---------------- latent truth ----------------
    status = _choice(rng, n, list(cal.STATUS_PROBS.values()))
    in_cohort = status == 0
    # Excluded patients borrow a treatment history too (drawn as if in the cohort, 40% TRD-like).
    trd = np.where(in_cohort, rng.random(n) < cal.TRD_PREVALENCE, rng.random(n) < 0.4)
    level_draw = np.array([2, 3, 4])[_choice(rng, n, list(cal.LEVEL_PROBS.values()))]
    four_plus = np.array([c for c, _ in cal.FOUR_PLUS_COUNTS])[_choice(rng, n, [p for _, p in cal.FOUR_PLUS_COUNTS])]
    mdd_n = np.array([c for c, _ in cal.MDD_COUNTS])[_choice(rng, n, [p for _, p in cal.MDD_COUNTS])]
    n_ad = np.where(trd, np.where(level_draw == 4, four_plus, level_draw), mdd_n)
    level = np.where(trd, level_draw, 0)  # 0 = MDD
    # Template: among those of the patient's (group, n_antidepressants).
    template = np.zeros(n, dtype=np.int64)
    keys = np.array([t[0] * 10 + t[1] for t in TEMPLATES])
    weights = np.array([t[4] for t in TEMPLATES])
    pkey = trd.astype(np.int64) * 10 + n_ad
    u = rng.random(n)
    for key in np.unique(pkey):
        members = np.flatnonzero(keys == key)
        sel = pkey == key
        w = weights[members]
        template[sel] = members[np.searchsorted(np.cumsum(w / w.sum()), u[sel], side="right").clip(0, len(w) - 1)]
    no_ad_history = (status == STATUSES.index("no_antidepressant")) | (
        (status == STATUSES.index("no_depression_diagnosis")) & (rng.random(n) < 0.5))
    has_ad = ~no_ad_history

    # Demographics given the group (Table 1).
    under18 = status == STATUSES.index("under_18")
    dies = rng.random(n) < np.where(in_cohort, np.where(trd, cal.DEATH[1], cal.DEATH[0]), 0.08)
    dies &= ~under18
    (m0, s0), (m1, s1) = cal.AGE_AT_EXTRACTION
    (dm0, ds0), (dm1, ds1) = cal.AGE_AT_DEATH
    # Table 1's age at extraction includes the dead (older: age at death + ~2.5 years since), so the
    # living are drawn a little younger to keep each group's mean at the paper's.
    m0 -= cal.DEATH[0] * (dm0 + 2.5 - m0) / (1 - cal.DEATH[0])
    m1 -= cal.DEATH[1] * (dm1 + 2.5 - m1) / (1 - cal.DEATH[1])
    age = np.where(trd, rng.normal(m1, s1, n), rng.normal(m0, s0, n)).clip(MIN_AGE + 0.3, 97)
    age = np.where(status == STATUSES.index("dementia"), rng.normal(76, 9, n).clip(45, 99), age)
    age = np.where(under18, rng.uniform(MIN_AGE - 6, MIN_AGE - 0.3, n), age)
    years_since_death = rng.uniform(0.05, 5, n)
    age_at_death = np.where(trd, rng.normal(dm1, ds1, n), rng.normal(dm0, ds0, n)).clip(MIN_AGE + 1, 99)
    last_day = np.where(dies, extract_day - (years_since_death * 365.25).astype(np.int64), extract_day)
    age = np.where(dies, age_at_death + years_since_death, age)
    birth_day = extract_day - (age * 365.25).astype(np.int64) - rng.integers(0, 2, n)

    # Notes truth: self-harm far more common in notes than in codes (Discussion of the paper).
    p_sh = _by_group(cal.NOTES_SELF_HARM, trd, level)
    notes_self_harm = rng.random(n) < p_sh
    p_coded = _by_group(cal.CODED_SELF_HARM, trd, level) / p_sh
    coded_self_harm = notes_self_harm & (rng.random(n) < p_coded)
    ideation = np.where(notes_self_harm, rng.random(n) < cal.SUICIDAL_IDEATION_IF_SELF_HARM,
                        rng.random(n) < _by_group(cal.NOTES_SUICIDAL_IDEATION, trd, level) * 0.8)
    attempt = notes_self_harm & (rng.random(n) < cal.SUICIDE_ATTEMPT_IF_SELF_HARM)

    truth = {
        "status": status, "trd": trd & in_cohort, "level": np.where(in_cohort, level, 0),
        "n_ad": np.where(in_cohort, n_ad, 0), "template": template, "has_ad": has_ad,
        "self_harm": notes_self_harm, "suicidal_ideation": ideation, "suicide_attempt": attempt,
        "coded_self_harm": coded_self_harm, "last_day": last_day,
    }

    # ---------------- prescriptions ----------------
    rx = _Rows(RX_COLUMNS)
    roles = TEMPLATE_ROLES[template]
    roles[~has_ad] = NONE
    aug_role = np.where(has_ad, TEMPLATE_AUG[template], AUG_NONE)
    has_combo = TEMPLATE_HAS_COMBO[template]
    drugs = _distinct_drugs(rng, n, cat.ad_weights, MAX_SLOTS)
    last_slot = np.where(roles != NONE, np.arange(MAX_SLOTS)[None, :], -1).max(axis=1)
    big = np.int64(1) << 40
    last_start = np.zeros(n, dtype=np.int64)
    last_end = np.zeros(n, dtype=np.int64)
    last_role = np.zeros(n, dtype=np.int64)
    max_end = np.full(n, -big)
    first_end = np.zeros(n, dtype=np.int64)
    a1_drug = np.zeros(n, dtype=np.int64)
    a2_start = np.zeros(n, dtype=np.int64)
    a2_tit = np.zeros(n, dtype=np.int64)
    t2 = np.full(n, big)
    aug_start = np.zeros(n, dtype=np.int64)
    distinct_used = np.zeros(n, dtype=np.int64)
    for k in range(MAX_SLOTS):
        role = roles[:, k]
        act = np.flatnonzero(role != NONE)
        if len(act) == 0:
            break
        r = role[act]
        na = len(act)
        # Which drug: a new distinct antidepressant, or A1 again.
        d_idx = distinct_used[act].clip(0, MAX_SLOTS - 1)
        drug = np.where(r == RESTART, a1_drug[act], drugs[act, d_idx])
        distinct_used[act] += (r != RESTART)
        a1_drug[act] = np.where(r == A1, drug, a1_drug[act])
        # Adequacy of the line.
        u = rng.random(na)
        kind = np.full(na, KIND_ADEQUATE)
        kind = np.where(r == PRE, np.where(u < 0.6, KIND_SHORT, KIND_LOW), kind)
        kind = np.where(r == MID, KIND_LOW, kind)
        kind = np.where(r == POST, np.where(u < 0.6, KIND_ADEQUATE, np.where(u < 0.8, KIND_SHORT, KIND_LOW)), kind)
        kind = np.where(r == COMBO, np.where(u < 0.7, KIND_ADEQUATE, KIND_LOW), kind)
        is_host = (k == last_slot[act]) & (aug_role[act] == AUG_POST)
        kind = np.where(is_host & (kind == KIND_SHORT), KIND_LOW, kind)
        tit = np.where((kind == KIND_ADEQUATE) & np.isin(r, (A1, A2, POST)) & (rng.random(na) < 0.2), 14, 0)
        # Start day (day 0 = start of the current episode).
        prev_len = last_end[act] - last_start[act]
        gap = _uniform_int(rng, -np.minimum(14, prev_len // 2), np.full(na, 60))
        start = last_end[act] + gap
        concurrent = (r == POST) & (last_role[act] == POST) & (rng.random(na) < 0.2)
        start = np.where(concurrent, last_start[act] + _uniform_int(rng, np.zeros(na), 14), start)
        start = np.where(r == COMBO, a2_start[act] + _uniform_int(rng, np.zeros(na), a2_tit[act] + 10), start)
        start = np.where(r == RESTART, max_end[act] + _uniform_int(rng, np.full(na, 35), 150), start)
        if k == 0:
            start[:] = 0
        # Planned length.
        single = (r == A1) & (last_slot[act] == 0)
        planned = np.select(
            [kind == KIND_SHORT, kind == KIND_LOW, single],
            [_uniform_int(rng, np.full(na, 7), 21), _uniform_int(rng, np.full(na, 28), 120),
             _uniform_int(rng, np.full(na, 56), 300)],
            tit + _uniform_int(rng, np.full(na, 56), 140),
        )
        planned = np.where(r == COMBO, np.maximum(28, last_end[act] - start + _uniform_int(rng, np.full(na, -14), 14)), planned)
        planned = np.where(r == RESTART, _uniform_int(rng, np.full(na, 28), 200), planned)
        # The augmentation host (last line) must still run when the augmenting agent starts after T2
        # (for a level-2 patient the host is A2 itself, whose T2 is known from its start).
        t2_now = np.where(r == A2, start + tit + MIN_TRIAL_DAYS, t2[act])
        host_aug_start = np.maximum(t2_now, start + tit) + _uniform_int(rng, np.full(na, 7), 40)
        planned = np.where(is_host, np.maximum(planned, host_aug_start - start + _uniform_int(rng, np.full(na, 28), 120)), planned)
        aug_start[act] = np.where(is_host, host_aug_start, aug_start[act])
        # Supply per prescription: 28 days mostly, sometimes 56 or 30.
        su = rng.random(na)
        supply = np.where(su < 0.75, 28, np.where(su < 0.9, 56, 30))
        supply = np.where(kind == KIND_ADEQUATE, supply, np.where(su < 0.9, 28, 30))
        n_rx = np.where(kind == KIND_SHORT, 1, np.maximum((planned - tit) // supply, 1))
        # The host must outlast the augmenting agent's start: round its course up, not down.
        n_rx = np.where(is_host, np.maximum(-(-(planned - tit) // supply), 1), n_rx)
        n_rx = np.where(kind == KIND_ADEQUATE, np.maximum(n_rx, 2), n_rx) + (tit > 0)
        short_supply = np.where(kind == KIND_SHORT, planned, 0)
        level_adq = np.array(ADEQUATE_LEVELS)[_choice(rng, na, ADEQUATE_LEVEL_WEIGHTS)]
        level_low = rng.integers(0, 2, na)
        short_low = rng.random(na) < 0.3
        lvl = np.where(kind == KIND_LOW, level_low, np.where((kind == KIND_SHORT) & short_low, level_low, level_adq))
        allow_break = np.isin(r, (A1, POST, RESTART)) | ((r == A2) & ~has_combo[act])
        allow_break &= kind == KIND_ADEQUATE
        end = _expand(rng, rx, act, drug, start, n_rx, supply, tit, lvl, allow_break=allow_break,
                      extras=True, short_supply=short_supply)
        # Dose increases mid-course and missing doses, on adequate lines only.
        _adjust_doses(rng, rx, act, kind, tit)
        a2_start[act] = np.where(r == A2, start, a2_start[act])
        a2_tit[act] = np.where(r == A2, tit, a2_tit[act])
        t2[act] = np.where(r == A2, start + tit + MIN_TRIAL_DAYS, t2[act])
        if k == 0:
            first_end[act] = end
        last_start[act] = start
        last_end[act] = end
        last_role[act] = r
        max_end[act] = np.maximum(max_end[act], end)
    truth["t2"] = t2

    # Augmenting agents.
    aug_drug = cat.n_ad + _choice(rng, n, cat.aug_weights)
    sel = np.flatnonzero(aug_role != AUG_NONE)
    if len(sel):
        ar = aug_role[sel]
        start = np.select(
            [ar == AUG_POST, ar == AUG_PRE],
            [aug_start[sel], _uniform_int(rng, np.zeros(len(sel)), 21)],
            max_end[sel] + _uniform_int(rng, np.full(len(sel), 14), 90),
        )
        pre_end = np.minimum(first_end[sel], t2[sel]) - 7
        n_rx = np.select(
            [ar == AUG_POST, ar == AUG_PRE],
            [_uniform_int(rng, np.full(len(sel), 2), 8), np.maximum((pre_end - start) // 28, 1)],
            _uniform_int(rng, np.ones(len(sel)), 6),
        )
        drug = np.where(ar == AUG_PRE, cat.names.index("quetiapine"), aug_drug[sel])
        lvl = np.where(ar == AUG_PRE, rng.integers(0, 2, len(sel)), rng.integers(1, N_LEVELS, len(sel)))
        end = _expand(rng, rx, sel, drug, start, n_rx, np.full(len(sel), 28), np.zeros(len(sel)), lvl, extras=False)
        max_end[sel] = np.maximum(max_end[sel], end)

    # Place the current episode in calendar time: ongoing at extraction (ends on the last day) or
    # ended up to ~2.5 years before it.
    cur_rows = rx.get()
    ongoing = rng.random(n) < 0.6
    target_end = np.where(ongoing, last_day, last_day - _uniform_int(rng, np.zeros(n), 900))
    shift = target_end - max_end
    shift = np.where(has_ad, shift, 0)
    cur_rows["start"] = cur_rows["start"] + shift[cur_rows["pid"]]
    episode_start = shift  # day 0 of the current episode
    truth["episode_start"] = np.where(has_ad, episode_start, -big)

    # An earlier episode for some: 1-3 lines ending 200-1500 days before the current one starts.
    prev = _Rows(RX_COLUMNS)
    # (not for the young, whose earlier episode would fall in childhood)
    has_prev = has_ad & (age >= 25) & (rng.random(n) < np.where(trd, 0.35, 0.28))
    p_idx = np.flatnonzero(has_prev)
    if len(p_idx):
        m_lines = _choice(rng, len(p_idx), [0.5, 0.3, 0.2]) + 1
        pdrugs = _distinct_drugs(rng, len(p_idx), cat.ad_weights, 3)
        p_end = np.zeros(len(p_idx), dtype=np.int64)
        p_max = np.zeros(len(p_idx), dtype=np.int64)
        for k in range(3):
            act = np.flatnonzero(m_lines > k)
            na = len(act)
            kind = _choice(rng, na, [0.6, 0.2, 0.2])
            start = np.zeros(na, dtype=np.int64) if k == 0 else p_end[act] + _uniform_int(rng, np.full(na, -14), 45)
            planned = np.where(kind == KIND_SHORT, _uniform_int(rng, np.full(na, 7), 21), _uniform_int(rng, np.full(na, 56), 180))
            n_rx = np.where(kind == KIND_SHORT, 1, np.maximum(planned // 28, 2))
            lvl = np.where(kind == KIND_LOW, rng.integers(0, 2, na),
                           np.array(ADEQUATE_LEVELS)[_choice(rng, na, ADEQUATE_LEVEL_WEIGHTS)])
            end = _expand(rng, prev, p_idx[act], pdrugs[act, k], start, n_rx, np.full(na, 28), np.zeros(na), lvl,
                          allow_break=np.ones(na, dtype=bool), short_supply=np.where(kind == KIND_SHORT, planned, 0))
            p_end[act] = end
            p_max[act] = np.maximum(p_max[act], end)
        prev_rows = prev.get()
        gap = _uniform_int(rng, np.full(len(p_idx), EPISODE_GAP_DAYS + 17), 1500)
        pshift = np.zeros(n, dtype=np.int64)
        pshift[p_idx] = episode_start[p_idx] - gap - p_max
        prev_rows["start"] = prev_rows["start"] + pshift[prev_rows["pid"]]
        history_start = np.where(has_prev, pshift, episode_start)
    else:
        prev_rows = None
        history_start = episode_start
    history_start = np.where(has_ad, history_start, last_day - _uniform_int(rng, np.full(n, 60), 2500))

    # Other prescriptions: hypnotics, anxiolytics, physical health, a few misspelt antidepressants;
    # augmenting-type drugs alone for some patients without antidepressants.
    noise = _Rows(RX_COLUMNS)
    n_noise = rng.poisson(0.6, n)
    npid = np.repeat(np.arange(n), n_noise)
    nn = len(npid)
    n_plain = len(NOISE_DRUGS) - N_MISSPELT
    ndrug = cat.noise_start + rng.integers(0, n_plain, nn)
    span = np.maximum(last_day[npid] - history_start[npid] - 28, 1)
    nstart = history_start[npid] + (rng.random(nn) * span).astype(np.int64)
    _expand(rng, noise, npid, ndrug, nstart, rng.integers(1, 7, nn), np.full(nn, 28), np.zeros(nn),
            rng.integers(0, N_LEVELS, nn), extras=False, is_noise=True)
    mis = np.flatnonzero(has_ad & (rng.random(n) < 0.01))
    _expand(rng, noise, mis, cat.noise_start + n_plain + rng.integers(0, N_MISSPELT, len(mis)),
            episode_start[mis] + 3, np.ones(len(mis)), np.full(len(mis), 28), np.zeros(len(mis)),
            np.full(len(mis), 2), extras=False, is_noise=True)
    lone = np.flatnonzero(~has_ad & (rng.random(n) < 0.3))
    _expand(rng, noise, lone, aug_drug[lone], last_day[lone] - _uniform_int(rng, np.full(len(lone), 60), 900),
            rng.integers(1, 5, len(lone)), np.full(len(lone), 28), np.zeros(len(lone)),
            rng.integers(0, N_LEVELS, len(lone)), extras=False, is_noise=True)
    noise_rows = noise.get()
    # Nothing after the patient's last day (death or extraction).
    noise_ok = noise_rows["start"] + noise_rows["supply"] <= last_day[noise_rows["pid"]]
    noise_rows = {k: v[noise_ok] for k, v in noise_rows.items()}

    parts = [cur_rows, noise_rows] + ([prev_rows] if prev_rows is not None else [])
    allrx = {k: np.concatenate([p[k] for p in parts]) for k in RX_COLUMNS}
    prescriptions = _prescription_columns(rng, allrx, cat)

    diagnoses = _diagnoses(rng, n, status, trd, level, history_start, last_day, coded_self_harm,
                           episode_start, has_ad)
    referrals = _referrals(rng, n, trd, level, in_cohort, history_start, last_day)
    patients = _patients(rng, n, trd, level, in_cohort, birth_day, dies, last_day, cat)
    return truth, {"patients": patients, "diagnoses": diagnoses, "prescriptions": prescriptions,
                   "referrals": referrals}



def _adjust_doses(rng, rx: _Rows, act, kind, tit):
    """On adequate lines: sometimes a dose step up after two prescriptions; some doses unrecorded."""
    lvl = rx.cols["level"][-1]
    pos = rx.cols["pos"][-1]
    pid = rx.cols["pid"][-1]
    missing = rx.cols["dose_missing"][-1]
    # Map each new row back to its line (pid -> kind) through a lookup over the block.
    lookup_kind = np.full(pid.max() + 1 if len(pid) else 1, -1)
    lookup_kind[act] = kind
    lookup_tit = np.zeros_like(lookup_kind)
    lookup_tit[act] = tit
    step_up = np.zeros_like(lookup_kind, dtype=bool)
    step_up[act] = rng.random(len(act)) < 0.25
    rk = lookup_kind[pid]
    adequate_row = (rk == KIND_ADEQUATE) & (lvl >= 2)
    lvl[:] = np.where(adequate_row & step_up[pid] & (pos >= 2 + (lookup_tit[pid] > 0)), np.minimum(lvl + 1, 5), lvl)
    missing[:] = adequate_row & (rng.random(len(pid)) < 0.08)
    # Short courses at an adequate dose may also lack a dose (still too short to be adequate).
    missing[:] |= (rk == KIND_SHORT) & (lvl >= 2) & (rng.random(len(pid)) < 0.08)


def _prescription_columns(rng, r, cat: Catalogue):
    n = len(r["pid"])
    order = np.lexsort((r["drug"], r["start"], r["pid"]))
    r = {k: v[order] for k, v in r.items()}
    variant = _choice(rng, n, VARIANT_WEIGHTS)
    text_key = cat.text_key(r["drug"], variant, r["level"])
    dose = cat.strengths[r["drug"], r["level"]]
    dose_missing = r["dose_missing"] | (rng.random(n) < np.where(r["is_noise"], 0.3, 0.0))
    atc_present = (rng.random(n) < 0.35) & (np.array([bool(a) for a in cat.atc])[r["drug"]])
    # end_date / days_supply: both, end only, supply only, or neither (only where 28 days is right).
    mode = _choice(rng, n, [0.3, 0.3, 0.3, 0.1])
    mode = np.where((mode == 3) & (r["supply"] != 28), 2, mode)
    end = r["start"] + r["supply"]
    return {
        "pid": r["pid"], "text_key": text_key, "start_date": r["start"],
        "end_date": end, "end_missing": (mode == 2) | (mode == 3),
        "days_supply": r["supply"], "supply_missing": (mode == 1) | (mode == 3),
        "daily_dose_mg": dose, "dose_missing": dose_missing,
        "atc": r["drug"], "atc_missing": ~atc_present,
    }


class _Vocabulary:
    """Every short string the generator writes (codes, labels, team names) gets an integer id.

    Rows carry ids; case and dot variants are derived once per distinct id; the writer turns ids
    into strings with one Arrow ``take``. So no string is formatted per row.
    """

    def __init__(self):
        self.strings: list[str] = []
        self.ids: dict[str, int] = {}
        self._derived: dict[tuple[str, int], int] = {}

    def id(self, text: str) -> int:
        if text not in self.ids:
            self.ids[text] = len(self.strings)
            self.strings.append(text)
        return self.ids[text]

    def ids_of(self, texts) -> np.ndarray:
        return np.array([self.id(t) for t in texts], dtype=np.int64)

    def derive(self, ids: np.ndarray, name: str, fn) -> np.ndarray:
        """The id of fn(string) for each id (computed once per distinct id)."""
        if len(ids) == 0:
            return ids
        uniq, inverse = np.unique(ids, return_inverse=True)
        mapped = np.empty(len(uniq), dtype=np.int64)
        for i, u in enumerate(uniq):
            key = (name, int(u))
            if key not in self._derived:
                self._derived[key] = self.id(fn(self.strings[u]))
            mapped[i] = self._derived[key]
        return mapped[inverse]


VOCAB = _Vocabulary()
EMPTY = VOCAB.id("")


def _code_variants(rng, codes: np.ndarray) -> np.ndarray:
    """As recorded: 'F32.1' mostly, also 'F321', 'f32.1', 'f321'."""
    u = rng.random(len(codes))
    nodot = VOCAB.derive(codes, "nodot", lambda c: c.replace(".", ""))
    lower = VOCAB.derive(codes, "lower", str.lower)
    lower_nodot = VOCAB.derive(codes, "lower_nodot", lambda c: c.replace(".", "").lower())
    return np.where(u < 0.65, codes, np.where(u < 0.85, nodot, np.where(u < 0.95, lower, lower_nodot)))


def _pick(rng, options, n):
    return VOCAB.ids_of(options)[rng.integers(0, len(options), n)]


def _diagnoses(rng, n, status, trd, level, history_start, last_day, coded_self_harm, episode_start, has_ad):
    pid, code, day = [], [], []

    def add(mask, codes, when):
        idx = np.flatnonzero(mask)
        if len(idx):
            pid.append(idx)
            code.append(np.asarray(codes)[mask] if np.ndim(codes) and len(codes) == n else codes)
            day.append(np.minimum(np.asarray(when)[idx] if np.ndim(when) else when, last_day[idx]))

    def rand_day(lo, hi):
        lo = np.minimum(lo, hi)
        return lo + (rng.random(n) * (hi - lo + 1)).astype(np.int64)

    has_dep = status != STATUSES.index("no_depression_diagnosis")
    in_cohort = status == 0
    f33 = rng.random(n) < np.where(in_cohort, _by_group(cal.F33, trd, level), 0.25)
    psychotic = rng.random(n) < np.where(in_cohort, _by_group(cal.PSYCHOTIC, trd, level), 0.08)
    first_dx = np.where(has_ad, np.minimum(history_start + _uniform_int(rng, np.full(n, -90), 30), last_day), history_start)
    # First depression code (F33 patients were often coded F32 first).
    f33_first_f32 = f33 & (rng.random(n) < 0.5)
    first_codes = np.where(f33 & ~f33_first_f32, _pick(rng, F33_SUBCODES, n), _pick(rng, F32_SUBCODES, n))
    add(has_dep, first_codes, first_dx)
    later = rand_day(first_dx, last_day)
    add(has_dep & f33_first_f32, _pick(rng, F33_SUBCODES, n), later)
    repeat = has_dep & (rng.random(n) < 0.4)
    add(repeat, np.where(f33, _pick(rng, F33_SUBCODES, n), _pick(rng, F32_SUBCODES, n)), rand_day(first_dx, last_day))
    add(has_dep & psychotic, np.where(f33 & ~f33_first_f32, VOCAB.id("F33.3"),
                                      np.where(f33, _pick(rng, ("F32.3", "F33.3"), n), VOCAB.id("F32.3"))),
        rand_day(first_dx, last_day))
    # Exclusions: the patient's own rule, sometimes plus a later rule's code (the first rule wins).
    for name, codes in EXCLUSION_CODES.items():
        add(status == STATUSES.index(name), _pick(rng, codes, n), rand_day(history_start - 365, last_day))
    extra_excl = (status >= STATUSES.index("under_18")) & (status <= STATUSES.index("dementia")) & (rng.random(n) < 0.1)
    add(extra_excl, _pick(rng, EXCLUSION_CODES["cognitive_or_neurological"], n), rand_day(history_start, last_day))
    # Patients without depression: other mental health codes, a few with an exclusion code too.
    no_dep = ~has_dep
    add(no_dep, _pick(rng, NON_DEPRESSION_CODES, n), rand_day(history_start - 365, last_day))
    add(no_dep & (rng.random(n) < 0.15), _pick(rng, EXCLUSION_CODES["psychosis"], n), rand_day(history_start, last_day))
    # Comorbidities by group (Table 2).
    for flag, pair in cal.COMORBIDITY.items():
        p = _by_group(pair, trd, level)
        has = rng.random(n) < p
        add(has, _pick(rng, COMORBIDITY_CODES[flag], n), rand_day(history_start - 730, last_day))
        add(has & (rng.random(n) < 0.2), _pick(rng, COMORBIDITY_CODES[flag], n), rand_day(history_start, last_day))
    add(coded_self_harm, _pick(rng, COMORBIDITY_CODES["self_harm"], n), rand_day(history_start, last_day))
    add(rng.random(n) < 0.3, _pick(rng, OTHER_CODES, n), rand_day(history_start - 365, last_day))
    pid = np.concatenate(pid)
    code = _code_variants(rng, np.concatenate(code))
    day = np.concatenate(day)
    order = np.lexsort((day, pid))  # stable: ties keep generation order (ids are not sorted)
    return {"pid": pid[order], "code": code[order], "date": day[order]}


def _referrals(rng, n, trd, level, in_cohort, history_start, last_day):
    lam = np.where(trd & in_cohort, cal.REFERRALS_PER_PATIENT[1], cal.REFERRALS_PER_PATIENT[0])
    count = rng.poisson(lam)
    pid = np.repeat(np.arange(n), count)
    m = len(pid)
    cats = list(cal.REFERRAL_MIX)
    probs_mdd = np.array([cal.REFERRAL_MIX[c][0] for c in cats])
    probs_trd = np.array([cal.REFERRAL_MIX[c][1] for c in cats])
    is_trd = (trd & in_cohort)[pid]
    cat_idx = np.where(is_trd, _choice(rng, m, probs_trd), _choice(rng, m, probs_mdd))
    names = [name for c in cats for name in TEAMS[c]]
    offsets = np.cumsum([0] + [len(TEAMS[c]) for c in cats])
    sizes = np.diff(offsets)
    team = offsets[cat_idx] + (rng.random(m) * sizes[cat_idx]).astype(np.int64)
    lo = np.minimum(history_start[pid] - 180, last_day[pid])
    day = lo + (rng.random(m) * (last_day[pid] - lo + 1)).astype(np.int64)
    filled = rng.random(m) < cal.SERVICE_CATEGORY_FILLED
    order = np.lexsort((day, pid))
    return {"pid": pid[order], "service": VOCAB.ids_of(names)[team][order], "date": day[order],
            "service_category": np.where(filled, VOCAB.ids_of(cats)[cat_idx], EMPTY)[order]}


def _labels(rng, n, groups: list[str], group_idx, labels: dict[str, tuple[str, ...]], case_mix=True):
    out = np.full(n, EMPTY, dtype=np.int64)
    for g, name in enumerate(groups):
        sel = group_idx == g
        out[sel] = _pick(rng, labels.get(name, ("",)), int(sel.sum()))
    if case_mix:
        u = rng.random(n)
        out = np.where(u < 0.15, VOCAB.derive(out, "upper", str.upper),
                       np.where(u < 0.3, VOCAB.derive(out, "title", str.title), out))
    return out


def _patients(rng, n, trd, level, in_cohort, birth_day, dies, last_day, cat: Catalogue):
    g_trd = trd & in_cohort
    sex_groups = list(cal.SEX)
    sex_idx = _choice(rng, n, list(cal.SEX.values()))
    sex = _labels(rng, n, sex_groups, sex_idx, SEX_LABELS, case_mix=False)
    eth_groups = list(cal.ETHNICITY)
    eth_p = np.array([cal.ETHNICITY[g] for g in eth_groups])
    eth_idx = np.where(g_trd, _choice(rng, n, eth_p[:, 1]), _choice(rng, n, eth_p[:, 0]))
    # NHS letters for ~55%, ONS / free-text labels for the rest; empty for some Unknown.
    letters = {g: tuple(v for v in cat.ethnicity_labels[g] if len(v) <= 2) for g in eth_groups}
    words = {g: tuple(v for v in cat.ethnicity_labels[g] if len(v) > 2) for g in eth_groups}
    words["Unknown"] = words["Unknown"] + ("",)
    use_letter = rng.random(n) < 0.55
    eth = np.where(use_letter, _labels(rng, n, eth_groups, eth_idx, letters, case_mix=False),
                   _labels(rng, n, eth_groups, eth_idx, words))
    emp_groups = list(cal.EMPLOYMENT)
    emp_p = np.array([cal.EMPLOYMENT[g] for g in emp_groups])
    # Economic inactivity rises with resistance level; renormalise per patient.
    grad = np.select([level == 2, level == 3, level >= 4], [0.7, 1.0, 1.3], 1.0)
    p = np.where(g_trd[:, None], emp_p[None, :, 0] + (emp_p[None, :, 1] - emp_p[None, :, 0]) * grad[:, None],
                 emp_p[None, :, 0])
    p = p / p.sum(axis=1, keepdims=True)
    emp_idx = (rng.random(n)[:, None] > np.cumsum(p, axis=1)).sum(axis=1).clip(0, len(emp_groups) - 1)
    emp_labels = {g: cat.employment_labels.get(g, ("",)) for g in emp_groups}
    emp_labels["Unknown"] = emp_labels["Unknown"] + ("", "", "")
    emp = _labels(rng, n, emp_groups, emp_idx, emp_labels)
    return {"birth_date": birth_day, "sex": sex, "ethnicity": eth, "employment_status": emp,
            "death_date": last_day, "death_missing": ~dies}
