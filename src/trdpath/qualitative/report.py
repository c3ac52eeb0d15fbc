"""The qualitative report: themes table with attributed quotes, participant characteristics (like seed 002's
Table 1), the saturation curve and the inter-coder agreement table, as HTML (self-contained: the figure is
embedded as base64 PNG), DOCX and Markdown. Everything is computed once into ``ReportData``; the three writers
only lay it out.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import select

from trdpath.qualitative import models as m
from trdpath.qualitative.agreement import (agreement_by_code, agreement_summary, disagreements, document_texts,
                                           segments_frame)
from trdpath.qualitative.analysis import GROUP_LABELS, code_by_participant, code_frequencies, select_coders
from trdpath.qualitative.codebook import codebook_table
from trdpath.qualitative.saturation import SaturationResult, codes_per_interview, discovery_curve, guest_saturation
from trdpath.qualitative.store import QualProject, atomic_write_bytes, atomic_write_text

IDEAL_QUOTE_CHARACTERS = 120  # exemplar quotes: about one sentence, as quoted in the seed papers' findings


@dataclass
class ReportData:
    title: str
    description: str | None
    themes: pd.DataFrame
    participants: pd.DataFrame
    discovery: pd.DataFrame
    saturation: SaturationResult | None
    saturation_png: bytes | None
    agreement: pd.DataFrame
    agreement_overall: dict
    disagreements: pd.DataFrame
    theme_matrix: pd.DataFrame
    coders_for_themes: list[str] = field(default_factory=list)
    agreement_coders: list[str] = field(default_factory=list)


def _quote_text(text: str) -> str:
    return " ".join(text.split())


def exemplar_quotes(segments: pd.DataFrame, texts: dict[str, str], limit: int = 3) -> list[tuple[str, str]]:
    """Up to ``limit`` (participant, quote) pairs: different participants, both groups when possible, each
    quote close to one sentence long."""
    if segments.empty:
        return []
    data = segments.assign(
        quote=[_quote_text(texts[d][s:e]) for d, s, e in zip(segments["document"], segments["start"],
                                                               segments["end"])])
    data = data.assign(distance=(data["quote"].str.len() - IDEAL_QUOTE_CHARACTERS).abs(),
                       who=data["participant"].fillna(data["document"]))
    data = data.sort_values(["distance", "interview_order", "start"]).drop_duplicates("who")
    chosen, roles = [], set()
    # First pass takes the best quote of each group so people with TRD and clinicians are both heard.
    for _, row in data.iterrows():
        if row["role"] not in roles and len(chosen) < limit:
            chosen.append(row)
            roles.add(row["role"])
    for _, row in data.iterrows():
        if len(chosen) >= limit:
            break
        if all(row["who"] != c["who"] for c in chosen):
            chosen.append(row)
    chosen.sort(key=lambda r: (r["interview_order"], r["start"]))
    return [(r["who"], r["quote"]) for r in chosen]


def themes_table(project: QualProject, segments: pd.DataFrame, coders: list[str] | None = None) -> pd.DataFrame:
    """One row per code in codebook order with depth, definition, counts (rolled up to themes) and quotes."""
    book = codebook_table(project)
    data = select_coders(segments, coders)
    freq = code_frequencies(data, rollup=True).set_index("code")
    texts = document_texts(project)
    rows = []
    for code in book.itertuples(index=False):
        under = data[(data["code"] == code.path) | data["code"].str.startswith(code.path + " / ")]
        counts = freq.loc[code.path] if code.path in freq.index else None
        leaf = not (book["parent"] == code.path).any()
        rows.append(dict(
            depth=code.depth, level="theme" if code.depth == 0 else "subtheme" if code.depth == 1 else "code",
            name=code.name, path=code.path, definition=code.definition or "", color=code.color,
            segments=int(counts["segments"]) if counts is not None else 0,
            participants=int(counts["participants"]) if counts is not None else 0,
            participants_trd=int(counts[f"participants_{m.ROLE_PERSON_WITH_TRD}"]) if counts is not None else 0,
            participants_clinicians=int(counts[f"participants_{m.ROLE_CLINICIAN}"]) if counts is not None else 0,
            quotes=exemplar_quotes(under, texts, limit=3 if code.depth == 0 else 2 if leaf else 0)
            if code.depth == 0 or leaf else []))
    return pd.DataFrame(rows)


def _fmt_pct(part: int, whole: int) -> str:
    return f"{part} ({100 * part / whole:.1f}%)" if whole else "0"


def participant_characteristics(project: QualProject) -> pd.DataFrame:
    """Rows: N, age range and median, then counts (%) of each category of every attribute; columns: all
    participants, people with TRD, clinicians (seed 002 Table 1 style)."""
    with project.reading() as s:
        people = s.scalars(select(m.Participant).order_by(m.Participant.id)).all()
        records = []
        for p in people:
            record = {"participant": p.label, "role": p.role}
            types = {}
            for attribute in p.attributes:
                record[attribute.name] = attribute.value
                types[attribute.name] = attribute.value_type
            records.append(record)
    frame = pd.DataFrame(records)
    if frame.empty:
        return pd.DataFrame(columns=["characteristic", "All"])
    groups = {"All": frame}
    for role, label in GROUP_LABELS.items():
        groups[label] = frame[frame["role"] == role]
    rows = [dict(characteristic="Participants, n", **{g: str(len(d)) for g, d in groups.items()})]
    numeric_age = "age" in frame and pd.to_numeric(frame["age"], errors="coerce").notna().any()
    if numeric_age:
        def age_cell(d: pd.DataFrame, how: str) -> str:
            ages = pd.to_numeric(d["age"], errors="coerce").dropna()
            if ages.empty:
                return "-"
            return f"{ages.min():.0f}\u2013{ages.max():.0f}" if how == "range" else f"{ages.median():g}"
        rows.append(dict(characteristic="Age range, years", **{g: age_cell(d, "range") for g, d in groups.items()}))
        rows.append(dict(characteristic="Age, median", **{g: age_cell(d, "median") for g, d in groups.items()}))
    role_names = {**GROUP_LABELS}
    rows.append(dict(characteristic="Role", **{g: "" for g in groups}))
    for role, label in role_names.items():
        rows.append(dict(characteristic=f"  {label}",
                         **{g: _fmt_pct(int((d["role"] == role).sum()), len(d)) for g, d in groups.items()}))
    for column in [c for c in frame.columns if c not in ("participant", "role", "age")]:
        values = frame[column].dropna()
        if values.empty:
            continue
        rows.append(dict(characteristic=column.replace("_", " ").capitalize(), **{g: "" for g in groups}))
        # Every percentage is of the column's participants (its n in the header), so the "All" column is of all
        # participants; those without a value are a "Not recorded" row and the parts add up to n. A group in which
        # nobody has a value (profession among people with TRD) shows "-": not asked of that group.
        for value in sorted(values.unique()):
            rows.append(dict(characteristic=f"  {value}",
                             **{g: _fmt_pct(int((d[column] == value).sum()), len(d))
                                if d[column].notna().any() else "-" for g, d in groups.items()}))
        if frame[column].isna().any():
            rows.append(dict(characteristic="  Not recorded",
                             **{g: _fmt_pct(int(d[column].isna().sum()), len(d))
                                if d[column].notna().any() else "-" for g, d in groups.items()}))
    return pd.DataFrame(rows)


def participant_headers(table: pd.DataFrame) -> list[str]:
    """Column headers of the characteristics table with each group's n, the denominator of its percentages."""
    counts = dict(zip(table.columns, table.iloc[0])) if len(table) else {}
    return ["Characteristic", *[f"{c} (n = {counts.get(c, 0)})" for c in table.columns[1:]]]


def saturation_png(curve: pd.DataFrame, result: SaturationResult | None) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 3.8), dpi=110)
    x = curve["interview"]
    ax.bar(x, curve["new_codes"], color="#9ecae1", label="New codes in interview")
    ax.plot(x, curve["cumulative_codes"], marker="o", color="#08519c", label="Cumulative unique codes")
    ax.set_xticks(list(x), [f"{i}\n{d}" for i, d in zip(x, curve["document"])], fontsize=8)
    ax.set_xlabel("Interview (in the order conducted)")
    ax.set_ylabel("Codes")
    if result is not None and result.reached:
        ax.axvline(result.interviews_needed + 0.5, color="#d62728", linestyle="--",
                   label=f"Saturation after {result.interviews_needed} (base {result.base_size}, "
                         f"run {result.run_length}, \u2264{result.threshold:.0%})")
    ax.legend(fontsize=8, loc="center right")
    ax.grid(axis="y", alpha=0.3)
    ax.set_title("Code discovery and saturation", fontsize=11)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def build_report_data(project: QualProject, *, coders_for_themes: list[str] | None = None,
                      agreement_coders: list[str] | None = None, base_size: int = 4, run_length: int = 2,
                      threshold: float = 0.05, bootstrap: int = 200, seed: int = 0) -> ReportData:
    segments = segments_frame(project)
    with project.reading() as s:
        info = s.scalar(select(m.ProjectInfo))
    analysed = select_coders(segments, coders_for_themes)
    interviews = codes_per_interview(analysed)
    curve = discovery_curve(interviews)
    result = None
    if len(interviews) >= base_size + run_length:
        result = guest_saturation(interviews, base_size=base_size, run_length=run_length, threshold=threshold,
                                  bootstrap=bootstrap, seed=seed)
    png = saturation_png(curve, result) if not curve.empty else None
    coders_present = sorted(segments["coder"].dropna().unique())
    agreement_coders = agreement_coders or (coders_present if len(coders_present) >= 2 else [])
    if len(agreement_coders) >= 2:
        by_code = agreement_by_code(segments, agreement_coders)
        differences = disagreements(segments, document_texts(project), agreement_coders)
    else:
        by_code, differences = pd.DataFrame(), pd.DataFrame()
    themes = themes_table(project, segments, coders_for_themes)
    theme_matrix = pd.DataFrame()
    if not analysed.empty:
        theme_matrix = code_by_participant(analysed.assign(code=analysed["code"].str.split(" / ").str[0]))
        theme_matrix = theme_matrix.reindex([t for t in themes.loc[themes["depth"] == 0, "name"]
                                             if t in theme_matrix.index])
    return ReportData(title=info.name if info else "Qualitative report", description=info.description if info else None,
                      themes=themes,
                      participants=participant_characteristics(project), discovery=curve, saturation=result,
                      saturation_png=png, agreement=by_code, agreement_overall=agreement_summary(by_code),
                      disagreements=differences, theme_matrix=theme_matrix,
                      coders_for_themes=list(coders_for_themes or coders_present),
                      agreement_coders=list(agreement_coders))


def _short_code(path: str) -> str:
    return path.split(" / ")[-1]


def agreement_rows(data: ReportData) -> list[dict]:
    rows = []
    for r in data.agreement.itertuples(index=False):
        rows.append(dict(code=_short_code(r.code), theme=r.code.split(" / ")[0], pair=f"{r.coder_a} / {r.coder_b}",
                         agreement=f"{r.agreement_pct:.1f}", kappa=f"{r.kappa:.2f}",
                         alpha="-" if pd.isna(r.krippendorff_alpha) else f"{r.krippendorff_alpha:.2f}"))
    return rows


def saturation_text(data: ReportData) -> str:
    if data.saturation is None:
        return "Too few coded interviews to assess saturation."
    text = data.saturation.sentence()
    boot = data.saturation.bootstrap
    if boot and boot.get("median_interviews") is not None:
        text += (f" Over {boot['replicates']} random interview orders (seed {boot['seed']}), saturation was "
                 f"reached in {boot['proportion_reached']:.0%}, after a median of {boot['median_interviews']:g} "
                 f"interviews (2.5th\u201397.5th percentile {boot['p2_5']:g}\u2013{boot['p97_5']:g}).")
    return text


# ------------------------------------------------------------------------------------------------ writers
def render_html(data: ReportData) -> str:
    env = Environment(loader=PackageLoader("trdpath.qualitative", "templates"),
                      autoescape=select_autoescape(["html", "j2"]))
    template = env.get_template("report.html.j2")
    png = base64.b64encode(data.saturation_png).decode("ascii") if data.saturation_png else None
    return template.render(data=data, themes=data.themes.to_dict("records"),
                           participants=data.participants.to_dict("records"),
                           participant_columns=list(data.participants.columns),
                           participant_headers=participant_headers(data.participants),
                           agreement=agreement_rows(data), overall=data.agreement_overall,
                           disagreements=data.disagreements.head(15).to_dict("records"),
                           disagreement_total=len(data.disagreements), saturation_png=png,
                           saturation_text=saturation_text(data), discovery=data.discovery.to_dict("records"),
                           short=_short_code, matrix=data.theme_matrix)


def _md_text(text: object) -> str:
    """Text from the project (names, quotes, memos) as inert Markdown: HTML is escaped, so a raw `<script>` or
    `<img onerror>` in a quote shows as text in any Markdown viewer instead of running."""
    return html.escape(str(text), quote=False)


def _md_escape(text: str) -> str:
    return _md_text(text).replace("|", "\\|").replace("\n", " ")


def _md_table(header: list[str], rows: list[list], numeric_from: int | None = None) -> str:
    """A Markdown table; columns from `numeric_from` on are right-aligned, like their header."""
    align = [" ---: " if numeric_from is not None and i >= numeric_from else " --- " for i in range(len(header))]
    lines = ["| " + " | ".join(_md_escape(h) for h in header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(_md_escape(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def render_markdown(data: ReportData, image_name: str | None = "saturation.png") -> str:
    out = [f"# {_md_text(data.title)}", ""]
    if data.description:
        out += [_md_text(data.description), ""]
    out += ["## Participant characteristics", "",
            _md_table(participant_headers(data.participants),
                      [[("\u2003" + r[0].strip()) if str(r[0]).startswith("  ") else r[0], *r[1:]]
                       for r in data.participants.values.tolist()], numeric_from=1), ""]
    out += ["## Themes", "",
            f"Counts are participants whose interview was coded (coders: {_md_text(', '.join(data.coders_for_themes))}); "
            "themes include everything coded beneath them.", ""]
    rows = []
    for r in data.themes.itertuples(index=False):
        quotes = " ".join(f"\u201c{q}\u201d ({who})" for who, q in r.quotes)
        rows.append([("" if r.depth == 0 else "\u2003" * r.depth) + (f"**{r.name}**" if r.depth == 0 else r.name),
                     r.level, r.definition, r.segments, f"{r.participants_trd} / {r.participants_clinicians}",
                     quotes])
    out += [_md_table(["Theme / subtheme / code", "Level", "Definition", "Segments",
                       "Participants (TRD / clinicians)", "Exemplar quotes"], rows), ""]
    if not data.theme_matrix.empty:
        out += ["### Themes by participant (coded segments)", "",
                _md_table(["Theme", *data.theme_matrix.columns],
                          [[theme, *row.tolist()] for theme, row in data.theme_matrix.iterrows()]), ""]
    out += ["## Saturation", "", _md_text(saturation_text(data)), ""]
    if image_name and data.saturation_png:
        out += [f"![Code discovery and saturation]({image_name})", ""]
    out += [_md_table(["Interview", "Document", "Codes", "New codes", "Cumulative"],
                      data.discovery[["interview", "document", "codes", "new_codes", "cumulative_codes"]]
                      .values.tolist()), ""]
    out += ["## Inter-coder agreement", ""]
    if data.agreement.empty:
        out += ["Only one coder; no agreement to report.", ""]
    else:
        overall = data.agreement_overall
        out += [f"Character-level comparison on {int(data.agreement['documents'].iloc[0])} double-coded documents "
                f"({_md_text(', '.join(data.agreement_coders))}). Mean over {overall['codes']} codes: agreement "
                f"{overall['mean_agreement_pct']:.1f}%, Cohen's kappa {overall['mean_kappa']:.2f}, Krippendorff's "
                f"alpha {overall['mean_krippendorff_alpha']:.2f}.", ""]
        out += [_md_table(["Theme", "Code", "Coders", "Agreement %", "Kappa", "Alpha"],
                          [[r["theme"], r["code"], r["pair"], r["agreement"], r["kappa"], r["alpha"]]
                           for r in agreement_rows(data)]), ""]
        out += [f"### Disagreements to discuss ({len(data.disagreements)})", "",
                _md_table(["Document", "Code", "Coded by", "Not coded by", "Text"],
                          [[d.document, _short_code(d.code), d.coded_by, d.not_coded_by, _quote_text(d.text)]
                           for d in data.disagreements.itertuples(index=False)]), ""]
    return "\n".join(out)


def render_docx(data: ReportData) -> bytes:
    import docx
    from docx.shared import Inches, Pt

    document = docx.Document()
    style = document.styles["Normal"]
    style.font.size = Pt(10)
    document.add_heading(data.title, level=0)
    if data.description:
        document.add_paragraph(data.description)

    def table(header: list[str], rows: list[list]) -> None:
        t = document.add_table(rows=1, cols=len(header))
        t.style = "Light Grid Accent 1"
        for cell, text in zip(t.rows[0].cells, header):
            cell.text = str(text)
        for row in rows:
            cells = t.add_row().cells
            for cell, text in zip(cells, row):
                cell.text = str(text)

    document.add_heading("Participant characteristics", level=1)
    table(participant_headers(data.participants), data.participants.values.tolist())
    document.add_heading("Themes", level=1)
    table(["Theme / subtheme / code", "Definition", "Segments", "Participants (TRD / clinicians)",
           "Exemplar quotes"],
          [[("    " * r.depth) + r.name, r.definition, r.segments,
            f"{r.participants_trd} / {r.participants_clinicians}",
            "\n".join(f"\u201c{q}\u201d ({who})" for who, q in r.quotes)] for r in data.themes.itertuples()])
    document.add_heading("Saturation", level=1)
    document.add_paragraph(saturation_text(data))
    if data.saturation_png:
        document.add_picture(io.BytesIO(data.saturation_png), width=Inches(6.3))
    document.add_heading("Inter-coder agreement", level=1)
    if data.agreement.empty:
        document.add_paragraph("Only one coder; no agreement to report.")
    else:
        table(["Theme", "Code", "Coders", "Agreement %", "Kappa", "Alpha"],
              [[r["theme"], r["code"], r["pair"], r["agreement"], r["kappa"], r["alpha"]]
               for r in agreement_rows(data)])
        document.add_heading("Disagreements to discuss", level=2)
        table(["Document", "Code", "Coded by", "Not coded by", "Text"],
              [[d.document, _short_code(d.code), d.coded_by, d.not_coded_by, _quote_text(d.text)]
               for d in data.disagreements.itertuples(index=False)])
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def write_reports(project: QualProject, out_dir: str | Path, *, formats: tuple[str, ...] = ("html", "docx", "md"),
                  **options) -> list[Path]:
    """Write report.html / report.docx / report.md (+ saturation.png for Markdown) atomically into out_dir."""
    out_dir = Path(out_dir)
    data = build_report_data(project, **options)
    written = []
    if "html" in formats:
        written.append(atomic_write_text(out_dir / "report.html", render_html(data)))
    if "docx" in formats:
        written.append(atomic_write_bytes(out_dir / "report.docx", render_docx(data)))
    if "md" in formats:
        if data.saturation_png:
            written.append(atomic_write_bytes(out_dir / "saturation.png", data.saturation_png))
        written.append(atomic_write_text(out_dir / "report.md", render_markdown(data)))
    return written


__all__ = ["ReportData", "build_report_data", "write_reports", "render_html", "render_markdown", "render_docx",
           "themes_table", "participant_characteristics", "exemplar_quotes"]
