"""The mapping file: which quantitative finding goes with which codes or themes, with the researcher's
judgement of fit and meta-inference (Fetters, Curry and Creswell 2013; Guetterman et al. 2015)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from trdpath.errors import UserError

JUDGEMENTS = ("convergence", "divergence", "expansion")  # the "fit" of the two strands (Fetters et al. 2013)
LAYOUTS = ("statistics-by-themes", "side-by-side")
PROTECTED, EXEMPT = "protected", "exempt"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Predictor(_Strict):
    """A term of Table 3 (odds ratio with its 95% CI), e.g. ``psychotic_symptoms`` or ``employment_group[Unknown]``."""
    kind: Literal["predictor"]
    term: str = Field(min_length=1)
    model: str | None = None  # "Model 4"; default: the last model holding the term (the fully adjusted one)
    label: str | None = None


class Comparison(_Strict):
    """A row of Table 1 or Table 2: MDD v TRD percentages (or means) and the test."""
    kind: Literal["comparison"]
    variable: str = Field(min_length=1)
    level: str | None = None
    table: Literal["table1", "table2"] | None = None  # default: whichever of the two holds the variable
    label: str | None = None


class ResistanceLevel(_Strict):
    """A row of the resistance-level table: MDD and TRD levels 2, 3 and 4+."""
    kind: Literal["resistance_level"]
    variable: str = Field(min_length=1)
    level: str | None = None
    label: str | None = None


class ServiceUse(_Strict):
    """A row of the service-use table (referrals by category, MDD v TRD)."""
    kind: Literal["service_use"]
    measure: str = Field(min_length=1)
    category: str | None = None
    label: str | None = None


class Prevalence(_Strict):
    """A definition's TRD prevalence from the definitions atlas (release/definitions/prevalence.csv)."""
    kind: Literal["prevalence"]
    definition: str = Field(min_length=1)
    label: str | None = None


Finding = Annotated[Union[Predictor, Comparison, ResistanceLevel, ServiceUse, Prevalence], Field(discriminator="kind")]


class Row(_Strict):
    finding: Finding
    codes: list[str] = Field(min_length=1)  # code names or paths ("Barriers to treatment / Waiting lists")
    theme: str | None = None  # the label shown; default: the codes' names
    quotes: int = Field(2, ge=1, le=3)  # 1-3 attributed quotes (issue 20)
    judgement: Literal["convergence", "divergence", "expansion"]
    meta_inference: str = Field(min_length=1)


class Mapping(_Strict):
    title: str = "Joint display"
    layouts: list[Literal["statistics-by-themes", "side-by-side"]] = Field(default_factory=lambda: list(LAYOUTS),
                                                                            min_length=1)
    coders: list[str] | None = None  # whose codings count (default: every coder's)
    level_attribute: str | None = None  # participant attribute holding the resistance level, if any
    participant_counts: Literal["protected", "exempt"] = PROTECTED
    exempt_reason: str | None = None
    rows: list[Row] = Field(min_length=1)

    @model_validator(mode="after")
    def _exemption_needs_a_reason(self) -> Mapping:
        # Turning disclosure control off is the researcher's decision, so it must be stated (docs/joint-displays.md).
        if self.participant_counts == EXEMPT and not (self.exempt_reason or "").strip():
            raise ValueError("participant_counts: exempt needs an exempt_reason (why these counts may be shown "
                             "exactly, printed under the display)")
        return self


def _where(loc: tuple) -> str:
    # Pydantic puts the union member's tag in the location ("finding.predictor.term"); a reader wants keys.
    parts, skip = [], {"predictor", "comparison", "resistance_level", "service_use", "prevalence"}
    for i, p in enumerate(loc):
        if isinstance(p, int):
            parts.append(f"[{p + 1}]" if i and loc[i - 1] == "rows" else f"[{p}]")
        elif p in skip and i and loc[i - 1] == "finding":
            continue
        else:
            parts.append(("." if parts else "") + str(p))
    return "".join(parts).replace("rows[", "row [").replace(".[", "[")


def parse_mapping(data: object, source: str = "mapping") -> Mapping:
    if not isinstance(data, dict):
        raise UserError(f"{source}: expected a YAML mapping with `rows:` (got {type(data).__name__})")
    try:
        return Mapping.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            value = err.get("input")
            shown = "" if isinstance(value, dict) else f" (got {value!r})"
            problems.append(f"  {_where(err['loc']) or 'top level'}: {err['msg']}{shown}")
        raise UserError(f"{source} is not a valid joint-display mapping:\n" + "\n".join(problems)) from None


def load_mapping(path: str | Path) -> Mapping:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no mapping file here")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise UserError(f"{path} is not valid YAML: {exc}") from None
    return parse_mapping(data, str(path))
