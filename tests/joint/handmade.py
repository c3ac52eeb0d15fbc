"""A hand-made result folder and qualitative project whose every figure is worked out in the tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from trdpath import layout
from trdpath.qualitative import models as m
from trdpath.qualitative.store import create_project

TABLE3 = """model,term,odds_ratio,ci_lower,ci_upper,p_value,coef,std_err,warning
Model 1,const,0.91,0.73,1.14,0.416,withheld,withheld,
Model 1,waiting,1.5,1.1,2.05,0.011,withheld,withheld,
Model 2,waiting,1.42,1.02,1.98,0.038,withheld,withheld,
Model 2,rare_thing,suppressed,suppressed,suppressed,suppressed,withheld,withheld,
"""
TABLE1 = """variable,level,mdd_n,mdd_pct,trd_n,trd_pct,test,statistic,df,p_value,mdd_mean,mdd_sd,trd_mean,trd_sd,warning
employment_group,,,,,,pearson_chi2,4.8,1.0,0.028,,,,,
employment_group,Employed,70,70.0,55,55.0,,,,,,,,,
employment_group,Economically inactive,30,30.0,45,45.0,,,,,,,,,
age,,100,,100,,student_t,1.2,198.0,0.232,49.7,16.3,47.0,15.8,
"""
TABLE2 = """variable,level,mdd_n,mdd_pct,trd_n,trd_pct,test,statistic,df,p_value,mdd_mean,mdd_sd,trd_mean,trd_sd,warning
sedatives,,<8,suppressed,<8,suppressed,fisher_exact,suppressed,suppressed,suppressed,,,,,
"""
RESISTANCE = """variable,level,mdd_n,mdd_pct,level2_n,level2_pct,level3_n,level3_pct,level4plus_n,level4plus_pct,test,statistic,df,df2,p_value,mdd_mean,mdd_sd,level2_mean,level2_sd,level3_mean,level3_sd,level4plus_mean,level4plus_sd,warning
resistance_level,,100,50.0,50,25.0,30,15.0,20,10.0,,,,,,,,,,,,,,
"""
SERVICE = """measure,category,mdd_n,mdd_pct,trd_n,trd_pct,test,statistic,df,p_value,warning
patients,specialist,20,20.0,35,35.0,pearson_chi2,5.04,1.0,0.025,
"""
PREVALENCE = """definition,population_n,trd_n,trd_pct
fekadu_2009,200,50,25.0
"""

# Participants: P1-P9 people with TRD (level 2: P1-P3, level 3: P4-P6, level 4+: P7-P9), C1-C10 clinicians.
TRD = [f"P{i}" for i in range(1, 10)]
CLINICIANS = [f"C{i}" for i in range(1, 11)]
LEVEL = {**{p: "2" for p in TRD[:3]}, **{p: "3" for p in TRD[3:6]}, **{p: "4+" for p in TRD[6:]}}
LONG_QUOTE = "I waited two years for a psychologist and by then I had stopped believing anything would help me at all."


def write_result(out: Path, config: str | None = None) -> Path:
    tables = layout.tables_dir(out)
    tables.mkdir(parents=True)
    for name, text in (("table3_logistic_regression.csv", TABLE3), ("table1_sociodemographics.csv", TABLE1),
                       ("table2_comorbidities.csv", TABLE2), ("resistance_levels.csv", RESISTANCE),
                       ("service_use.csv", SERVICE)):
        (tables / name).write_text(text, encoding="utf-8")
    (layout.release_dir(out) / "definitions").mkdir()
    (layout.release_dir(out) / "definitions" / "prevalence.csv").write_text(PREVALENCE, encoding="utf-8")
    if config is not None:
        (out / layout.CONFIG_TOML).write_text(config, encoding="utf-8")
    return out


def build_project(path: Path, *, quote: str = "I still hope.", code_name: str = "Hope",
                  label: str = "P1") -> Path:
    """Codings (coder Ann unless said): Barriers / Waiting lists: P1-P9 and C1-C3; Barriers / Funding: P1 and C1
    again (a participant counts once per theme); C4 by coder Bob only; the code ``code_name``: P1 only."""
    project = create_project(path, "hand-worked project")
    with project.transaction("test") as s:
        ann, bob = m.Coder(name="Ann"), m.Coder(name="Bob")
        barriers = m.Code(name="Barriers")
        waiting = m.Code(name="Waiting lists", parent=barriers)
        funding = m.Code(name="Funding", parent=barriers, position=1)
        hope = m.Code(name=code_name)
        s.add_all([ann, bob, barriers, waiting, funding, hope])
        for order, name in enumerate(TRD + CLINICIANS):
            shown = label if name == "P1" else name
            person = m.Participant(label=shown, role=m.ROLE_PERSON_WITH_TRD if name in TRD else m.ROLE_CLINICIAN)
            if name in LEVEL:
                person.attributes.append(m.ParticipantAttribute(name="level", value=LEVEL[name]))
            text = f"Interviewer: tell me.\n{name}: {LONG_QUOTE if name == 'P2' else 'It was a long wait.'}\n"
            if name == "P1":
                text += f"{name}: {quote}\n"
            document = m.Document(name=f"doc-{name}", text=text, participant=person, interview_order=order)
            s.add_all([person, document])
            s.flush()
            spoken = text.split("\n")[1]
            start = text.index(spoken) + len(name) + 2
            if name in TRD or name in CLINICIANS[:3]:
                s.add(m.Segment(document_id=document.id, code=waiting, coder=ann, start=start, end=len(text.split("\n")[0]) + 1 + len(spoken)))
            if name in ("P1", "C1"):
                s.add(m.Segment(document_id=document.id, code=funding, coder=ann, start=start, end=start + 4))
            if name == "C4":
                s.add(m.Segment(document_id=document.id, code=waiting, coder=bob, start=start, end=start + 4))
            if name == "P1":
                begin = text.index(quote)
                s.add(m.Segment(document_id=document.id, code=hope, coder=ann, start=begin, end=begin + len(quote)))
    project.close()
    return path


@pytest.fixture
def result(tmp_path: Path) -> Path:
    return write_result(tmp_path / "OUT")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return build_project(tmp_path / "project.sqlite")
