"""Issue 16 item 1: the report as a journal would print it (figure numbers, precision, columns, colours)."""

from __future__ import annotations

import datetime as dt
import re

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from docx import Document

from trdpath import layout as paths
from trdpath.config import StudyConfig
from trdpath.report import figures, write_report
from trdpath.report.display import percent_decimals
from support.synthetic import cohort_with_counts

META = {"software_version": "t", "index_date": dt.date(2021, 10, 31),
        "data_date_range": (dt.date(2000, 1, 1), dt.date(2021, 10, 31)), "source": "unit test"}


def attrition_for(patients):
    n = len(patients)
    return pd.DataFrame({"rule": ["extract", "no_depression_diagnosis"], "remaining": [n + 100, n],
                         "excluded": [0, 100]})


@pytest.fixture(scope="module")
def protected_report(tmp_path_factory):
    """MDD 300, TRD 200 (disclosure on): anxiety 61 / 52 -> published 60 / 50."""
    out = tmp_path_factory.mktemp("presentation")
    patients = cohort_with_counts(300, 200, {"anxiety": (61, 52), "self_harm": (3, 20)})
    write_report(out, patients, attrition_for(patients), StudyConfig(), META)
    return out


def _html(out):
    return paths.report_html(out).read_text(encoding="utf-8")


def test_figures_are_numbered_in_reading_order_with_captions(protected_report):
    html = _html(protected_report)
    body = html.split('<h2 id="attrition">', 1)[1]  # after the table of contents
    numbers = [int(n) for n in re.findall(r"<figcaption><b>Figure (\d+)</b> [^<]{10,}", body)]
    # Every figure has a caption, numbered 1, 2, 3, ... in the order they appear, the Sankey among them.
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) >= 7
    sankey = body.split('<figure id="fig-sankey">', 1)[1].split("</figure>", 1)[0]
    assert re.search(r"<figcaption><b>Figure \d+</b> Antidepressant journeys", sankey)
    # The table of contents lists the same figures in the same order.
    toc = html.split('<nav class="toc">', 1)[1].split("</nav>", 1)[0]
    assert [int(n) for n in re.findall(r">Figure (\d+)<", toc)] == numbers
    # The DOCX numbers the same figures alike, in the same order, with the same captions.
    document = Document(str(paths.report_docx(protected_report)))
    captions = [p.text for p in document.paragraphs if re.match(r"Figure \d+ ", p.text)]
    html_captions = [f"Figure {n} {c}" for n, c in
                     re.findall(r"<figcaption><b>Figure (\d+)</b> ([^<]+)</figcaption>", body)]
    assert captions == [c.replace("&#39;", "'") for c in html_captions]
    assert len(document.inline_shapes) == len(numbers)


def test_percentages_have_one_decimal_from_rounded_counts(protected_report):
    html = _html(protected_report)
    cells = re.findall(r"<td>(\d+) \((\d+\.\d+)\)</td>", html)
    assert cells
    # Disclosure on: every N (%) has exactly one decimal.
    assert all(len(pct.split(".")[1]) == 1 for _, pct in cells)
    # Anxiety: 61 -> 60 over the rounded 300 = 20.0; 52 -> 50 over 200 = 25.0 (by hand).
    assert "<td>60 (20.0)</td>" in html and "<td>50 (25.0)</td>" in html
    # The precision rule is stated, with why rounded parts need not add up.
    assert "Percentages to one decimal, from counts rounded to the nearest 5" in html
    assert "need not add up to the rounded total" in html and "terminal summary" in html
    assert percent_decimals(True) == 1 and percent_decimals(False) == 2


def test_exact_counts_keep_two_decimals(tmp_path):
    from trdpath.config import config_from_dict

    patients = cohort_with_counts(300, 200, {"anxiety": (61, 52)})
    write_report(tmp_path, patients, attrition_for(patients), config_from_dict({"disclosure": {"enabled": False}}),
                 META)
    html = _html(tmp_path)
    assert "<td>61 (20.33)</td>" in html and "<td>52 (26.00)</td>" in html  # 61/300, 52/200
    assert "Percentages to two decimals, from exact counts." in html


def test_prevalence_sentence_names_the_whole_denominator(protected_report):
    html = _html(protected_report)
    sentence = html.split('<h2 id="prevalence">', 1)[1].split("</p>", 1)[0]
    # 500 in the cohort; 200 TRD = 40.0%, 300 MDD = 60.0% (rounded counts, one decimal).
    assert "Of the 500 patients with a depression diagnosis" in sentence
    assert "at least one antidepressant prescription" in sentence
    assert "200 (40.0%) met the TRD criteria" in sentence and "300 (60.0%) were classified as MDD" in sentence


def test_tables_1_and_2_order_their_columns_alike(protected_report):
    html = _html(protected_report)

    def top_header(table_id):
        table = html.split(f'<table class="paper" id="tab-{table_id}">', 1)[1].split("</tr>", 1)[0]
        return [re.sub(r"\s*\(N = .*\)", "", h) for h in re.findall(r"<th[^>]*>([^<]*)</th>", table)][1:]

    assert top_header("table1") == top_header("table2") == ["MDD", "TRD", "Test", "P-value"]


def test_configuration_wraps_and_the_report_prints_on_a4(protected_report):
    html = _html(protected_report)
    assert re.search(r"pre \{[^}]*white-space: pre-wrap", html)
    assert "@page { size: A4" in html and "break-before: page" in html
    toc = html.split('<nav class="toc">', 1)[1].split("</nav>", 1)[0]
    for key in ("attrition", "prevalence", "table1", "table2", "table3", "journeys", "configuration"):
        assert f'href="#{key}"' in toc and f'id="{key}"' in html


def test_log_axis_reads_as_plain_odds_ratios():
    fig, ax = plt.subplots()
    ax.set_xscale("log")
    ax.set_xlim(0.6, 6)
    figures.plain_log_axis(ax)
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_xticklabels()]
    # Round odds ratios within 0.6-6, written as numbers, no powers of ten.
    assert labels == ["0.75", "1", "1.5", "2", "3", "5"]
    plt.close(fig)


def _journeys():
    return pd.DataFrame({"step": [1, 1, 1, 2, 2], "source": ["sertraline", "sertraline", "citalopram",
                                                            "mirtazapine", "augmentation: lithium"],
                         "target": ["mirtazapine", "augmentation: lithium", "no further drug", "no further drug",
                                    "no further drug"],
                         "n": [40, 20, 30, 40, "<8"]})


def test_drug_position_chart_has_whole_positions_and_the_drug_colours(monkeypatch):
    drawn = {}
    monkeypatch.setattr(figures, "_png", lambda fig: drawn.setdefault("fig", fig) and b"")
    colours = figures.DrugColours.from_journeys(_journeys())

    class Protected:
        journeys = _journeys()

    figures.journeys_by_step(Protected(), colours)
    ax = drawn["fig"].axes[0]
    assert list(ax.get_xticks()) == [1, 2]  # positions 1 and 2 only: no 0.5 ... 2.5
    bars = {c.get_label(): c.patches[0].get_facecolor() for c in ax.containers}
    from matplotlib.colors import to_rgba

    assert bars["sertraline"] == to_rgba(colours("sertraline"))
    plt.close(drawn["fig"])


def test_a_drug_has_one_colour_in_every_figure():
    colours = figures.DrugColours.from_journeys(_journeys())
    # Ordered by published patients per position: sertraline 60 (out of position 1), mirtazapine 40 (in = out at
    # position 2), citalopram 30, lithium 20 (in at position 2; its <8 outflow is hidden).
    assert colours.order == ["sertraline", "mirtazapine", "citalopram", "lithium"]
    tab20 = [plt.matplotlib.colors.to_hex(c) for c in plt.get_cmap("tab20").colors]
    assert [colours(d) for d in colours.order] == tab20[:4]
    assert colours("augmentation: lithium") == colours("lithium")  # the same drug, whatever its role
    assert len({colours(d) for d in colours.order}) == len(colours.order)
    svg = figures.sankey_svg(figures.sankey_layout(_journeys(), colours), colours)
    # Every Sankey band is drawn in its source drug's colour.
    for source in ("sertraline", "mirtazapine", "citalopram"):
        bands = re.findall(r'stroke="(#[0-9a-f]{6})"[^>]*><title>\d\. ' + source, svg)
        assert bands and set(bands) == {colours(source)}


def test_a_suppressed_t_test_is_said_in_words_in_the_footnote():
    """Age at death in a small cohort: its counts are <8, so its t-tests are hidden; the footnote says so in words
    rather than printing "Student's *, P = *"."""
    from types import SimpleNamespace

    from trdpath.config import DisclosureSection
    from trdpath.report.display import table1
    from trdpath.stats.disclosure import SUPPRESSED

    frame = pd.DataFrame({
        "variable": ["age_at_death", "age_at_death"], "level": ["", ""], "mdd_n": ["<8", "<8"],
        "mdd_pct": [None, None], "trd_n": ["<8", "<8"], "trd_pct": [None, None],
        "test": ["student_t", "welch_t"], "statistic": [SUPPRESSED, SUPPRESSED], "df": [SUPPRESSED, SUPPRESSED],
        "p_value": [SUPPRESSED, SUPPRESSED], "mdd_mean": [SUPPRESSED] * 2, "mdd_sd": [SUPPRESSED] * 2,
        "trd_mean": [SUPPRESSED] * 2, "trd_sd": [SUPPRESSED] * 2, "warning": ["", ""]})
    shown = table1(SimpleNamespace(table1=frame), {"mdd": 130, "trd": 95}, DisclosureSection())
    notes = [n for n in shown.footnotes if n.startswith("Age in years at reported death")]
    assert notes == ["Age in years at reported death: t-tests suppressed (they would use a count hidden by "
                     "disclosure control)."]
    assert not any("Student's *" in n for n in shown.footnotes)
