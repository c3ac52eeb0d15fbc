"""A small result folder for the web application: synthetic per-patient rows and the report's own tables."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time

import pytest

from trdpath.config import StudyConfig
from support.synthetic import synthetic_patients

SECRET = "test-token-0123456789abcdef"


def make_result(folder, n: int = 2000, seed: int = 7, hostile: bool = False):
    """patients.parquet + tables/*.csv + config.toml, as `trdpath run` leaves them (no report rendering)."""
    from trdpath.report import render_report  # noqa: F401  (the tables are written by write_report below)
    from trdpath.report import write_report

    patients = synthetic_patients(n, seed=seed)
    if hostile:
        # A hostile drug name and label travel into the Sankey links and the patient page.
        patients.loc[patients.index[:700], "treatment_sequence"] = "<script>alert(1)</script>;sertraline"
        patients.loc[patients.index[0], "patient_id"] = "<img src=x onerror=alert(2)>"
    folder.mkdir(parents=True, exist_ok=True)
    patients.to_parquet(folder / "patients.parquet", index=False)
    # Pathway steps made up from the sequences (as the benchmarks do), so the release has lines and step times.
    from trdpath.stats.pathways import synthetic_steps, write_steps
    write_steps(synthetic_steps(patients, seed=seed), folder)
    config = StudyConfig()
    (folder / "config.toml").write_text(config.to_toml(), encoding="utf-8")
    import pandas as pd
    n_cohort = int(patients["in_cohort"].sum())
    attrition = pd.DataFrame({"rule": ["extract", "excluded (synthetic)"], "remaining": [n, n_cohort],
                              "excluded": [0, n - n_cohort]})
    write_report(folder, patients, attrition, config, {"software_version": "test", "index_date": "2024-01-01",
                                                       "data_date_range": ("2010-01-01", "2024-01-01"),
                                                       "source": "postgresql://alice:hunter2@db/cdm"})
    (folder / "metadata.json").write_text('{"index_date": "2024-01-01", "software_version": "test", '
                                          '"source": "postgresql://alice:hunter2@db/cdm"}', encoding="utf-8")
    return patients


@pytest.fixture(scope="session")
def result_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("serve") / "results"
    make_result(folder, hostile=True)
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serving(app):
    """Serve `app` by uvicorn on 127.0.0.1 in a thread (as `trdpath serve` runs it); yields its base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(100):
        if server.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def live_server(result_folder):
    from trdpath.serve.app import create_app

    app = create_app(result_folder, secret=SECRET, patient_level=True)
    app.state.live.warm()
    yield from serving(app)


@pytest.fixture(scope="session")
def handmade_result(tmp_path_factory):
    """`trdpath classify` on the hand-made extract of handmade.py, with a hand-written worklist.csv."""
    from serve.handmade import make_handmade_result, write_worklist

    out = make_handmade_result(tmp_path_factory.mktemp("handmade"))
    write_worklist(out)
    return out


@pytest.fixture(scope="session")
def handmade_server(handmade_result):
    from trdpath.serve.app import create_app

    yield from serving(create_app(handmade_result, secret=SECRET, patient_level=True, warm=False))


def chromium_paths() -> tuple[str, str] | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Selenium through Debian's chromedriver (nothing downloaded)."""
    paths = chromium_paths()
    if paths is None:
        message = "Debian's chromium and chromium-driver are not installed (scripts/install-system.sh)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI=true but {message}", pytrace=False)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = paths[0]
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1600"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=paths[1]), options=options)
    yield driver
    driver.quit()
