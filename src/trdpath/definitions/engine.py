"""Every definition evaluated in the engine from the stages `classify` already built (one pass).

The pipeline (trdpath.pipeline.classify_extract, its ``on_stages`` hook) hands over its cached
exposure segments, eras and current episodes; nothing is rebuilt from the prescriptions. From them
each definition needs only small group-bys and windows over eras: its window (an episode with its
own gap, rebuilt from the eras, or a window after the first depression diagnosis), its trials
(eras or adequate-dose segments of at least its minimum days), its event and its stage. Windows and
trials are shared between definitions that ask for the same ones. The semantics are those of
definitions/reference.py, which the tests hold this module to.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import pandas as pd

from trdpath.config import StudyConfig
from trdpath.definitions.params import Resolved
from trdpath.reference import ReferenceData
from trdpath.treatment.drug_names import ANTIDEPRESSANT, AUGMENTING
from trdpath.treatment.eras import last_era_start

NULL_DAY = ibis.null("int64")


def _least(a: ibis.Value, b: ibis.Value) -> ibis.Value:
    """The smaller of two days, NULL only when both are (LEAST's NULL rule differs between engines)."""
    return ibis.ifelse(a.isnull(), b, ibis.ifelse(b.isnull(), a, ibis.least(a, b)))


def _inside(table: ibis.Table, day: str) -> ibis.Value:
    return (table.lo.isnull() | (table[day] >= table.lo)) & (table.hi.isnull() | (table[day] <= table.hi))


@dataclass
class Stages:
    """What the pipeline built (see classify_extract's on_stages)."""

    con: object
    extract: object
    keyed: ibis.Table
    segments: ibis.Table
    eras: ibis.Table
    episodes: ibis.Table
    ingredients: pd.DataFrame
    index_day: int

    @classmethod
    def from_hook(cls, stages: dict) -> Stages:
        return cls(**{k: stages[k] for k in cls.__dataclass_fields__})


def stages_with_gap(stages: dict, treatment) -> dict:
    """The stages with the eras rebuilt at another persistence gap (the definition dial): exposures,
    adequate-dose segments, eras and current episodes exactly as trdpath.pipeline.classify_extract
    builds them, from its patient keys and drug mapping; the rest (cohort, ingredients) shared."""
    from trdpath.treatment.adequate_trials import era_segments, eras_from_segments
    from trdpath.treatment.episodes import current_episodes
    from trdpath.treatment.exposures import build_exposures

    out = dict(stages)
    exposures = build_exposures(stages["extract"].prescriptions, stages["keyed"].select("patient_id", "pkey"),
                                stages["mapping_table"], stages["index_day"], treatment)
    out["segments"] = segments = era_segments(exposures, treatment).cache()
    out["eras"] = eras = eras_from_segments(segments, ibis.memtable(stages["ingredients"]), treatment).cache()
    out["episodes"] = current_episodes(eras.filter(eras.role == ANTIDEPRESSANT), treatment).cache()
    return out


class Evaluator:
    def __init__(self, stages: Stages, config: StudyConfig):
        self.s = stages
        self.config = config
        eras = stages.eras.mutate(era_start=stages.eras.era_start.cast("int64"), era_end=stages.eras.era_end.cast("int64"))
        self.ad_eras = eras.filter(eras.role == ANTIDEPRESSANT).select("pkey", "ingredient_id", "era_start", "era_end")
        self.aug_eras = eras.filter(eras.role == AUGMENTING).select("pkey", "ingredient_id", "era_start", "era_end")
        table = stages.ingredients
        classes = ReferenceData(config).antidepressants[["ingredient", "class"]].copy()
        classes["ingredient"] = classes["ingredient"].str.strip().str.lower()
        merged = table.merge(classes, on="ingredient", how="left")
        self.ids = dict(zip(merged["ingredient"], merged["ingredient_id"]))
        self.names = dict(zip(merged["ingredient_id"], merged["ingredient"]))
        self.classes = ibis.memtable(merged.loc[merged["role"] == ANTIDEPRESSANT, ["ingredient_id", "class"]]
                                     .rename(columns={"ingredient_id": "_cid"}))
        self.names_t = ibis.memtable(pd.DataFrame({"_nid": merged["ingredient_id"], "drug": merged["ingredient"]}))
        self._windows: dict = {}
        self._trials: dict = {}
        self._gaps: list[int] = []  # episode gaps besides the study's, found together (see plan)

    # -- windows and trials (shared) -----------------------------------------------------------
    def window(self, r: Resolved) -> ibis.Table:
        """pkey, lo, hi (days; NULL = open) for every patient with an antidepressant era (or a diagnosis)."""
        key = (r.grouping, r.episode_gap_days if r.grouping == "current_episode" else None, r.window_days)
        if key in self._windows:
            return self._windows[key]
        if r.grouping == "current_episode":
            if r.episode_gap_days == self.config.treatment.episode_gap_days:
                episodes = self.s.episodes
            elif r.episode_gap_days in self._gaps:
                starts = self._episode_starts()
                episodes = starts.select("pkey", episode_start=starts[f"_gap{r.episode_gap_days}"])
            else:
                episodes = last_era_start(self.ad_eras, ["pkey"], r.episode_gap_days, start="era_start", end="era_end")
                episodes = episodes.select("pkey", episode_start=episodes.era_start)
            w = episodes.select("pkey", lo=episodes.episode_start.cast("int64"), hi=NULL_DAY)
        elif r.grouping == "all":
            w = self.ad_eras.select("pkey").distinct().mutate(lo=NULL_DAY, hi=NULL_DAY)
        else:
            dx = self.s.extract.diagnoses
            code = dx.code.upper().replace(".", "").replace(" ", "")
            day = dx.date.epoch_days().cast("int64")
            first = (dx.filter((code.startswith("F32") | code.startswith("F33")) & (day <= self.s.index_day))
                     .group_by("patient_id").agg(lo=day.min()))
            first = first.join(self.s.keyed.select("patient_id", "pkey"), "patient_id")
            w = first.select("pkey", lo=first.lo, hi=first.lo + r.window_days)
        w = w.cache()
        self._windows[key] = w
        return w

    def plan(self, resolved: list[Resolved]) -> None:
        """The definitions about to be evaluated: their own episode gaps are then found in one pass."""
        self._gaps = sorted({r.episode_gap_days for r in resolved if r.grouping == "current_episode"}
                            - {self.config.treatment.episode_gap_days})

    def _episode_starts(self) -> ibis.Table:
        """pkey, _gap<g> for each planned gap g: the start of the last episode at that gap, all gaps in ONE
        window pass (trdpath.treatment.eras.last_era_start's rule: an era opens an episode when it starts
        more than g days after every earlier era's end); cached."""
        key = ("episode_starts", tuple(self._gaps))
        if key not in self._windows:
            e = self.ad_eras
            earlier = ibis.window(group_by="pkey", order_by=[e.era_start], rows=(None, -1))
            flagged = e.select("pkey", "era_start", _latest=e.era_end.max().over(earlier))
            self._windows[key] = flagged.group_by("pkey").agg(**{
                f"_gap{g}": flagged.era_start.max(where=flagged._latest.isnull() | (flagged.era_start > flagged._latest + g))
                for g in self._gaps}).cache()
        return self._windows[key]

    def trials(self, r: Resolved) -> ibis.Table:
        """pkey, ingredient_id, t_start, adequacy, rank (0-based, by adequacy then ingredient id)."""
        key = (r.grouping, r.episode_gap_days if r.grouping == "current_episode" else None, r.window_days, r.dose, r.min_days)
        if key in self._trials:
            return self._trials[key]
        w = self.window(r)
        if r.dose == "adequate":
            seg = self.s.segments
            c = seg.filter(seg.adequate_era.notnull()).select(
                "pkey", "ingredient_id", start=seg.start.cast("int64"), end=seg.end.cast("int64"))
        else:
            c = self.ad_eras.select("pkey", "ingredient_id", start=self.ad_eras.era_start, end=self.ad_eras.era_end)
        c = c.filter((c.end - c.start) >= r.min_days).join(w, "pkey")
        c = c.filter(_inside(c, "start"))
        per_drug = c.group_by(["pkey", "ingredient_id"]).agg(t_start=c.start.min())
        per_drug = per_drug.mutate(adequacy=per_drug.t_start + r.min_days)
        order = ibis.window(group_by="pkey", order_by=[per_drug.adequacy, per_drug.ingredient_id])
        t = per_drug.mutate(rank=ibis.row_number().over(order)).cache()
        self._trials[key] = t
        return t

    def _agent_eras(self, r: Resolved, agents) -> ibis.Table:
        a = self.aug_eras
        if agents is not None:
            a = a.filter(a.ingredient_id.isin([int(self.ids[n]) for n in agents if n in self.ids] or [-1]))
        return a

    def _window_key(self, r: Resolved) -> tuple:
        return (r.grouping, r.episode_gap_days if r.grouping == "current_episode" else None, r.window_days)

    def _augmentations(self, r: Resolved) -> ibis.Table:
        """pkey, ingredient_id, era_start: agent eras in the window overlapping an antidepressant era
        (study-definition.md 4); cached, shared by definitions with the same window, agents and overlap."""
        key = ("augmentations", self._window_key(r), r.agents, r.min_overlap_days)
        if key not in self._windows:
            self._windows[key] = self._augmentations_expr(r).cache()
        return self._windows[key]

    def _augmentations_expr(self, r: Resolved) -> ibis.Table:
        a = self._agent_eras(r, r.agents).join(self.window(r), "pkey")
        a = a.filter(_inside(a, "era_start"))
        ad = self.ad_eras.select("pkey", ad_start="era_start", ad_end="era_end")
        pairs = a.join(ad, "pkey")
        overlap = ibis.least(pairs.era_end, pairs.ad_end) - ibis.greatest(pairs.era_start, pairs.ad_start)
        hits = pairs.filter(overlap >= r.min_overlap_days)
        return hits.select("pkey", "ingredient_id", "era_start").distinct()

    def _ad_in(self, r: Resolved) -> ibis.Table:
        """Antidepressant eras starting in the window (with lo, hi); cached per window."""
        key = ("ad_in", self._window_key(r))
        if key not in self._windows:
            e = self.ad_eras.join(self.window(r), "pkey")
            self._windows[key] = e.filter(_inside(e, "era_start")).cache()
        return self._windows[key]

    # -- one definition ------------------------------------------------------------------------
    def evaluate(self, r: Resolved, with_why: bool = True) -> tuple[ibis.Table, ibis.Table | None]:
        """(pkey, day, stage, score) per patient with a window; (pkey, ingredient_id, start, end, code) for why."""
        d = r.definition
        kind = d.event.kind
        w = self.window(r)
        # OHDSI 1009 counts eras, not trials: its trials (every era of 1+ days) are built only if read
        needs_trials = kind != "distinct_drugs" or d.stage.kind in ("esm", "thase_rush")
        t = self.trials(r) if needs_trials else None
        base = w.select("pkey", "lo")
        per = t.group_by("pkey").agg(n_trials=t.count(), first_start=t.t_start.min()) if needs_trials else None
        counted = None  # pkey, ingredient_id, code (see WHY codes below)
        score = None
        if kind in ("next_step", "failures"):
            n = r.failures
            tn = t.group_by("pkey").agg(t_n=t.adequacy.max(where=t["rank"] == n - 1))
            if d.event.min_classes > 1:
                tc = t.join(self.classes, t.ingredient_id == self.classes._cid)
                first_by_class = tc.group_by(["pkey", "class"]).agg(day=tc.adequacy.min())
                corder = ibis.window(group_by="pkey", order_by=[first_by_class.day, first_by_class["class"]])
                ranked = first_by_class.mutate(crank=ibis.row_number().over(corder))
                cday = ranked.group_by("pkey").agg(class_day=ranked.day.max(where=ranked.crank == d.event.min_classes - 1))
                tn = tn.join(cday, "pkey")
                tn = tn.select("pkey", t_n=ibis.ifelse(tn.t_n.isnull() | tn.class_day.isnull(), NULL_DAY,
                                                        ibis.greatest(tn.t_n, tn.class_day)))
            tn = tn.filter(tn.t_n.notnull())
            if with_why:  # read by the verdicts and by why.csv's trace: found once
                tn = tn.cache()
            if d.event.min_classes > 1:
                fx = t.join(tn, "pkey")
                failed = fx.filter(fx.adequacy <= fx.t_n).select("pkey", "ingredient_id", "rank")
            else:
                failed = t.join(tn, "pkey")
                failed = failed.filter(failed["rank"] < n).select("pkey", "ingredient_id", "rank")
            counted = failed.select("pkey", "ingredient_id", code=(failed["rank"] + 1).cast("int32"))
            if kind == "failures":
                day = tn.select("pkey", day=tn.t_n)
            else:
                ad = self._ad_in(r).anti_join(failed, ["pkey", "ingredient_id"]).join(tn, "pkey")
                switches = ad.filter(ad.era_start > ad.t_n).select("pkey", "ingredient_id", "era_start", how=ibis.literal("switch"))
                steps = switches
                if r.augmentation:
                    aug = self._augmentations(r).join(tn, "pkey")
                    aug = aug.filter(aug.era_start > aug.t_n).select("pkey", "ingredient_id", "era_start", how=ibis.literal("augmentation"))
                    steps = steps.union(aug)
                if not with_why:  # only the day of the first step: a group-by, not a window
                    day = steps.group_by("pkey").agg(day=steps.era_start.min())
                else:
                    # the first step; ties on the day go to the ingredient first in name order (as the reference
                    # sorts): ingredient ids are numbered in alphabetical order of the names.
                    sorder = ibis.window(group_by="pkey", order_by=[steps.era_start, steps.ingredient_id, steps.how])
                    first = steps.mutate(_n=ibis.row_number().over(sorder))
                    first = first.filter(first._n == 0).cache()  # read by the verdicts and by the trace
                    day = first.select("pkey", day=first.era_start)
                    counted = counted.union(first.select("pkey", "ingredient_id", code=ibis.ifelse(
                        first.how == "switch", NEXT_SWITCH, NEXT_AUGMENTATION).cast("int32")))
            if d.event.within_days is not None:
                lim = day.join(per, "pkey")
                day = lim.select("pkey", day=ibis.ifelse(lim.day <= lim.first_start + d.event.within_days, lim.day, NULL_DAY))
        elif kind == "distinct_drugs":
            ev = d.event
            back = ev.lookback_days
            # (a) needs >= distinct_drugs antidepressants: only such patients enter the join of pieces.
            ad = self.ad_eras
            many = ad.group_by("pkey").agg(k=ad.ingredient_id.nunique())
            e = ad.semi_join(many.filter(many.k >= ev.distinct_drugs), "pkey")
            x = self.ad_eras.select("pkey", x_ing="ingredient_id", x_start="era_start", x_end="era_end")
            cand = _distinct_drug_days(e, back, ev.distinct_drugs)
            wanted = [n.strip().lower() for n in ev.antipsychotic_agents]
            if wanted:
                ap = self._agent_eras(r, wanted).join(x, "pkey")
                ap = ap.filter((ap.x_start <= ap.era_start) & (ap.x_end >= ap.era_start - back))
                cand = cand.union(ap.select("pkey", "era_start"))
            if ev.esketamine_after and "esketamine" in self.ids:
                es = self._agent_eras(r, ["esketamine"]).join(x, "pkey")
                es = es.filter(es.x_start < es.era_start)
                es = es.group_by(["pkey", "era_start"]).agg(k=es.x_ing.nunique())
                cand = cand.union(es.filter(es.k >= ev.esketamine_after).select("pkey", "era_start"))
            day = cand.group_by("pkey").agg(day=cand.era_start.min())
            if with_why:  # read by the verdicts and by the trace: its join of pieces (the costliest part) runs once
                day = day.cache()
            c = self.ad_eras.join(day, "pkey")
            counted = c.filter(c.era_start <= c.day).select("pkey", "ingredient_id").distinct().mutate(
                code=ibis.literal(BEFORE_INDEX_EVENT, "int32"))
        else:  # score
            s = d.score
            aug = self._augmentations(r) if r.augmentation else None
            counted = t.select("pkey", "ingredient_id", code=(t["rank"] + 1).cast("int32"))
            if aug is not None:
                first_aug = aug.group_by(["pkey", "ingredient_id"]).agg(day=aug.era_start.min())
                counted = counted.union(first_aug.select("pkey", "ingredient_id", code=ibis.literal(AUGMENTATION, "int32")))
            if s.kind == "mgh_s":
                events = t.select("pkey", day=t.adequacy, points=ibis.literal(s.per_trial, "float64"))
                if aug is not None:
                    events = events.union(first_aug.select("pkey", "day", points=ibis.literal(s.per_augmentation, "float64")))
                daily = events.group_by(["pkey", "day"]).agg(points=events.points.sum())
                running = ibis.window(group_by="pkey", order_by=daily.day, rows=(None, 0))
                cum = daily.mutate(total=daily.points.sum().over(running))
                scored = cum.group_by("pkey").agg(score=cum.points.sum(),
                                                  day=cum.day.min(where=cum.total >= s.threshold))
                day = scored.select("pkey", "day")
                score = scored.select("pkey", "score")
            else:  # msm at the index date
                parts = base.left_join(per, "pkey").drop("pkey_right")
                if aug is not None:
                    any_aug = aug.group_by("pkey").agg(has_aug=aug.count())
                    parts = parts.left_join(any_aug, "pkey").drop("pkey_right")
                else:
                    parts = parts.mutate(has_aug=ibis.literal(0, "int64"))
                n_tr = parts.n_trials.fill_null(0)
                fp = ibis.literal(len(s.failure_bands) + 1, "int64")
                for points, upper in reversed(list(enumerate(s.failure_bands, start=1))):
                    fp = ibis.ifelse(n_tr <= upper, points, fp)
                fp = ibis.ifelse(n_tr <= 0, 0, fp)
                duration = ibis.ifelse(parts.lo.isnull(), 0, self.s.index_day - parts.lo)
                dp = ibis.literal(len(s.duration_bands_months) + 1, "int64")
                for points, months in reversed(list(enumerate(s.duration_bands_months, start=1))):
                    dp = ibis.ifelse(duration <= months * 365 // 12, points, dp)
                total = (fp + dp).cast("float64") + ibis.ifelse(parts.has_aug.fill_null(0) > 0, s.augmentation_points, 0.0)
                scored = parts.select("pkey", score=total)
                day = scored.select("pkey", day=ibis.ifelse(scored.score >= s.threshold, self.s.index_day, NULL_DAY).cast("int64"))
                score = scored

        stage = ibis.null("string")
        sk = d.stage.kind
        # A verdict, date and ESM stage exist only for patients with a day, and compare reads a patient with no
        # row as one with no day: such definitions return only those rows (no join with the whole window).
        # A level ("MDD"), a Thase-Rush stage or a score is given to everyone in the window: those keep it.
        out = day if score is None and sk in ("none", "esm") else base.left_join(day, "pkey").drop("pkey_right")
        if score is not None:
            out = out.left_join(score, "pkey").drop("pkey_right")
            out = out.mutate(score=out.score.fill_null(0.0))
        else:
            out = out.mutate(score=ibis.null("float64"))
        if sk == "resistance_level":
            ad_in = self._ad_in(r)
            n_ad = ad_in.group_by("pkey").agg(n_ad=ad_in.ingredient_id.nunique())
            out = out.left_join(n_ad, "pkey").drop("pkey_right")
            n = out.n_ad.fill_null(0)
            stage = ibis.ifelse(out.day.notnull(), ibis.ifelse(n >= 4, "4+", n.cast("string")), "MDD")
        elif sk == "thase_rush":
            tc = t.join(self.classes, t.ingredient_id == self.classes._cid)
            cl = tc["class"]
            st = tc.group_by("pkey").agg(n_cls=cl.nunique(), n_base=cl.nunique(where=~cl.isin(["TCA", "MAOI"])),
                                         tca=tc.count(where=cl == "TCA"), maoi=tc.count(where=cl == "MAOI"))
            out = out.left_join(st, "pkey").drop("pkey_right")
            n_cls, n_base = out.n_cls.fill_null(0), out.n_base.fill_null(0)
            stage = ibis.cases(
                ((n_base >= 2) & (out.tca.fill_null(0) > 0) & (out.maoi.fill_null(0) > 0), "IV"),
                ((n_base >= 2) & (out.tca.fill_null(0) > 0), "III"),
                (n_cls >= 2, "II"), (n_cls >= 1, "I"), else_="0")
        elif sk == "esm":
            ad_in = self._ad_in(r)
            last = ad_in.group_by("pkey").agg(last_end=ad_in.era_end.max())
            out = out.left_join(last, "pkey").drop("pkey_right").left_join(per, "pkey").drop("pkey_right")
            span = out.last_end - out.first_start
            bands = d.stage.bands_weeks
            stage = ibis.literal("CRD")
            for number, weeks in reversed(list(enumerate(bands, start=1))):
                stage = ibis.ifelse(span <= weeks * 7, f"TRD{number}", stage)
            stage = ibis.ifelse(out.day.notnull(), stage, ibis.null("string"))
        out = out.select("pkey", day=out.day.cast("int64"), stage=stage.cast("string"), score=out.score.cast("float64"))
        why = self._why(r, counted) if with_why else None
        return out, why

    def _first_eras(self, r: Resolved) -> ibis.Table:
        """pkey, ingredient_id, start, end: each drug's first era in the window (antidepressants and the
        definition's augmenting agents); cached, shared by every definition with the same window and agents."""
        key = ("first_eras", self._window_key(r), r.agents)
        if key in self._windows:
            return self._windows[key]
        eras = self._ad_in(r).select("pkey", "ingredient_id", "era_start", "era_end")
        agents = self._agent_eras(r, r.agents).join(self.window(r), "pkey")
        agents = agents.filter(_inside(agents, "era_start")).select("pkey", "ingredient_id", "era_start", "era_end")
        both = eras.union(agents)
        # the first era of each drug (ties on the start: the shorter era, as one row is kept)
        order = ibis.window(group_by=["pkey", "ingredient_id"], order_by=[both.era_start, both.era_end])
        first = both.mutate(_n=ibis.row_number().over(order))
        first = first.filter(first._n == 0).select("pkey", "ingredient_id", start=first.era_start, end=first.era_end)
        self._windows[key] = first = first.cache()
        return first

    def _why(self, r: Resolved, counted: ibis.Table | None) -> ibis.Table:
        """pkey, ingredient_id, start, end, code: each drug's first era in the window and why it counted
        or not (a code: WHY_TEXT; the text is attached on the fetched Arrow table, not carried through the engine)."""
        first = self._first_eras(r)
        t = self.trials(r).select("pkey", "ingredient_id", is_trial=ibis.literal(True))
        first = first.left_join(t, ["pkey", "ingredient_id"]).drop("pkey_right", "ingredient_id_right")
        if counted is not None:
            c = counted.group_by(["pkey", "ingredient_id"]).agg(counted_code=counted.code.max())
            first = first.left_join(c, ["pkey", "ingredient_id"]).drop("pkey_right", "ingredient_id_right")
        else:
            first = first.mutate(counted_code=ibis.null("int32"))
        is_ad = first.ingredient_id.isin([int(i) for i, role in zip(self.s.ingredients["ingredient_id"], self.s.ingredients["role"])
                                          if role == ANTIDEPRESSANT])
        code = ibis.cases(
            (first.counted_code.notnull(), first.counted_code),
            (~is_ad, NOT_COUNTED_AGENT),
            (first.is_trial.notnull(), NOT_COUNTED_TRIAL),
            else_=NOT_A_TRIAL)
        return first.select("pkey", "ingredient_id", "start", "end", code=code.cast("int32"))


def _distinct_drug_days(e: ibis.Table, back: int, n: int) -> ibis.Table:
    """pkey, era_start: the era starts s at which at least `n` distinct antidepressants have an era with
    x_start <= s and x_end >= s - back, at least n - 1 of them with x_start < s (the OHDSI 1009 rule).

    An era "covers" the days [x_start, x_end + back]; each cover is cut to its part after every earlier
    cover of the same drug ends (one window pass), so a drug's "pieces" are disjoint and cover what its
    covers do: the drugs covering s are the pieces holding s (a join on the patient with a range
    condition: a few pieces per patient). `before` leaves out the drugs whose only cover of s opens on
    it: a piece starting on s at its own era's start, no earlier cover of the drug reaching it."""
    iv = e.select("pkey", "ingredient_id", lo=e.era_start, hi=e.era_end + back)
    earlier = ibis.window(group_by=["pkey", "ingredient_id"], order_by=[iv.lo, iv.hi], rows=(None, -1))
    iv = iv.mutate(_latest=iv.hi.max().over(earlier))
    opens = iv._latest.isnull() | (iv.lo > iv._latest)
    iv = iv.mutate(_from=ibis.ifelse(opens, iv.lo, iv._latest + 1), _fresh=ibis.ifelse(opens, 1, 0).cast("int64"))
    pieces = iv.filter(iv._from <= iv.hi)  # a cover inside earlier ones adds nothing
    pieces = pieces.select(p_key="pkey", p_from="_from", p_to="hi", p_fresh="_fresh")
    queries = iv.select("pkey", day=iv.lo).distinct()  # every era start (from iv: `e` is read once)
    hits = queries.join(pieces, (queries.pkey == pieces.p_key) & (pieces.p_from <= queries.day) & (pieces.p_to >= queries.day))
    counts = hits.group_by(["pkey", "day"]).agg(upto=hits.count(), opening=hits.p_fresh.sum(where=hits.p_from == hits.day))
    q = counts.filter((counts.upto >= n) & (counts.upto - counts.opening.fill_null(0) >= n - 1))
    return q.select("pkey", era_start=q.day)


# why.csv reasons as codes: 1..N "failed trial k"; positive codes count, negative ones do not.
NEXT_SWITCH, NEXT_AUGMENTATION, BEFORE_INDEX_EVENT, AUGMENTATION = 1001, 1002, 1003, 1004
NOT_COUNTED_AGENT, NOT_COUNTED_TRIAL, NOT_A_TRIAL = -1, -2, -3
WHY_CODES = (NEXT_SWITCH, NEXT_AUGMENTATION, BEFORE_INDEX_EVENT, AUGMENTATION, NOT_COUNTED_AGENT, NOT_COUNTED_TRIAL, NOT_A_TRIAL)


def why_text(code: int, r: Resolved) -> str:
    """The reason of a why.csv code for definition `r` (the same texts as definitions/reference.py)."""
    fixed = {NEXT_SWITCH: "next step (switch) after the failed trials",
             NEXT_AUGMENTATION: "next step (augmentation) after the failed trials",
             BEFORE_INDEX_EVENT: "antidepressant era on or before the index event",
             AUGMENTATION: "augmentation",
             NOT_COUNTED_AGENT: "augmenting agent not counted",
             NOT_COUNTED_TRIAL: "trial not counted by this definition",
             NOT_A_TRIAL: f"not a trial: no era of {r.min_days}+ days at {'an adequate' if r.dose == 'adequate' else 'any'} dose"}
    return fixed.get(code, f"failed trial {code}")
