"""Thematic saturation: the code-discovery curve and Guest, Namey & Chen (2020).

Guest G, Namey E, Chen M (2020) A simple method to assess and report thematic saturation in qualitative
research. PLoS ONE 15(5): e0232076. Three parameters:

* base size b: the first b interviews set the base, the number of unique codes found in them;
* run length r: saturation is judged on runs of r consecutive interviews after the base, the run moving forward
  one interview at a time;
* new-information threshold t: the saturation ratio of a run = codes first seen in the run / codes in the base;
  saturation is reached at the first run whose ratio <= t (t = 0 means no new codes at all).

We report the interviews needed as the last interview BEFORE the first qualifying run (the run only confirms that
nothing, or little, new came after), and also the run's last interview. The base stays fixed (its code count is
the denominator throughout). The optional bootstrap shuffles the interview order (seeded) and reports how often,
and after how many interviews, saturation is reached, as the authors did to validate the method.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from trdpath.errors import UserError


@dataclass(frozen=True)
class SaturationResult:
    base_size: int
    run_length: int
    threshold: float
    base_codes: int
    runs: pd.DataFrame  # run_start, run_end (1-based interview positions), new_codes, ratio, meets_threshold
    reached: bool
    interviews_needed: int | None  # last interview before the first qualifying run
    confirmed_at: int | None  # last interview of the first qualifying run
    bootstrap: dict = field(default_factory=dict)

    def sentence(self) -> str:
        """How the authors suggest reporting it."""
        rule = f"base size {self.base_size}, run length {self.run_length}, new-information threshold " \
               f"\u2264{self.threshold:.0%}"
        if not self.reached:
            return f"Saturation was not reached ({rule})."
        return (f"Saturation was reached after {self.interviews_needed} interviews ({rule}); interviews "
                f"{self.interviews_needed + 1}\u2013{self.confirmed_at} added "
                f"{int(self.runs.loc[self.runs['meets_threshold']].iloc[0]['new_codes'])} new code(s).")


def codes_per_interview(segments: pd.DataFrame, *, level: int | None = None) -> list[tuple[str, frozenset]]:
    """(document, set of codes) per interview in interview order; ``level`` truncates code paths (1 = themes)."""
    if segments.empty:
        return []
    codes = segments["code"]
    if level is not None:
        codes = codes.str.split(" / ").str[:level].str.join(" / ")
    data = segments.assign(code=codes).sort_values(["interview_order", "document"])
    order = data.drop_duplicates("document")["document"].tolist()
    sets = data.groupby("document")["code"].agg(frozenset)
    return [(d, sets[d]) for d in order]


def discovery_curve(interviews: list[tuple[str, frozenset]]) -> pd.DataFrame:
    """New and cumulative unique codes per interview, in the order given."""
    seen: set = set()
    rows = []
    for position, (document, codes) in enumerate(interviews, start=1):
        new = codes - seen
        seen |= codes
        rows.append(dict(interview=position, document=document, codes=len(codes), new_codes=len(new),
                         cumulative_codes=len(seen)))
    return pd.DataFrame(rows, columns=["interview", "document", "codes", "new_codes", "cumulative_codes"])


def _runs(code_sets: list[frozenset], base_size: int, run_length: int, threshold: float):
    base: set = set().union(*code_sets[:base_size]) if base_size else set()
    if not base:
        return 0, [], None
    rows, first = [], None
    seen_before = [set()]
    for codes in code_sets:
        seen_before.append(seen_before[-1] | codes)
    for start in range(base_size, len(code_sets) - run_length + 1):
        run_codes = set().union(*code_sets[start:start + run_length])
        new = len(run_codes - seen_before[start])
        ratio = new / len(base)
        meets = ratio <= threshold + 1e-12
        rows.append(dict(run_start=start + 1, run_end=start + run_length, new_codes=new, ratio=ratio,
                         meets_threshold=meets))
        if meets and first is None:
            first = start
    return len(base), rows, first


def guest_saturation(interviews: list[tuple[str, frozenset]], *, base_size: int = 4, run_length: int = 2,
                     threshold: float = 0.05, bootstrap: int = 0, seed: int = 0) -> SaturationResult:
    """Guest, Namey & Chen (2020) saturation for interviews in order; see the module docstring."""
    if base_size < 1 or run_length < 1:
        raise UserError("base size and run length must be at least 1")
    if not 0 <= threshold < 1:
        raise UserError("the new-information threshold is a proportion between 0 and 1 (e.g. 0.05)")
    code_sets = [codes for _doc, codes in interviews]
    if len(code_sets) < base_size + run_length:
        raise UserError(f"{len(code_sets)} coded interviews: need at least base size + run length = "
                        f"{base_size + run_length}")
    base_codes, rows, first = _runs(code_sets, base_size, run_length, threshold)
    runs = pd.DataFrame(rows, columns=["run_start", "run_end", "new_codes", "ratio", "meets_threshold"])
    boot = {}
    if bootstrap:
        rng = np.random.default_rng(seed)
        needed = []
        for _ in range(bootstrap):
            order = rng.permutation(len(code_sets))
            _b, _rows, hit = _runs([code_sets[i] for i in order], base_size, run_length, threshold)
            needed.append(hit if hit is not None else np.nan)
        needed = np.asarray(needed, dtype=float)
        reached = needed[~np.isnan(needed)]
        boot = dict(replicates=bootstrap, seed=seed, proportion_reached=float(reached.size / bootstrap),
                    median_interviews=float(np.median(reached)) if reached.size else None,
                    p2_5=float(np.percentile(reached, 2.5)) if reached.size else None,
                    p97_5=float(np.percentile(reached, 97.5)) if reached.size else None)
    return SaturationResult(base_size, run_length, threshold, base_codes, runs, first is not None,
                            first if first is not None else None,
                            first + run_length if first is not None else None, boot)
