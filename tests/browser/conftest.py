"""Browser fixtures: the app served over real HTTP, and headless Chromium to drive it.

Browser tests commit for real (the live server reads what the test wrote), so every
table is emptied after each one.
"""

from __future__ import annotations

import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from werkzeug.serving import make_server

from lms import create_app
from lms.extensions import db
from tests.conftest import empty_all_tables, is_committing, make_config

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

DESKTOP = (1280, 900)
PHONE = (390, 844)

CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


@dataclass
class LiveServer:
    url: str


@pytest.fixture(scope="session")
def live_server(app, smtp_server):
    """The app on 127.0.0.1 over HTTP, in a thread, on the database `app` migrated."""
    controller, _ = smtp_server
    live_app = create_app(make_config(controller.port))
    server = make_server("127.0.0.1", 0, live_app, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    live_app.config["BASE_URL"] = url
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield LiveServer(url=url)
    server.shutdown()
    thread.join(timeout=10)
    with live_app.app_context():
        db.engine.dispose()


@pytest.fixture(autouse=True)
def _empty_tables_afterwards(request, app):
    """What a browser test committed is removed before the next test runs."""
    yield
    if is_committing(request):
        with app.app_context():
            empty_all_tables()
            db.session.remove()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Remember each phase's outcome, so the browser fixture can photograph a failure."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def browser(request, live_server):
    """Headless Chromium at desktop size that never downloads a browser or a driver."""
    profile = tempfile.TemporaryDirectory(prefix="lms-chromium-")
    downloads = tempfile.TemporaryDirectory(prefix="lms-downloads-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile.name}")
    options.add_experimental_option(
        "prefs",
        {
            "intl.accept_languages": "en-GB",
            "download.default_directory": downloads.name,
            "download.prompt_for_download": False,
            "plugins.always_open_pdf_externally": True,
        },
    )
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": downloads.name})
    driver.download_dir = Path(downloads.name)
    driver.set_window_size(*DESKTOP)
    try:
        yield driver
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            ARTIFACTS.mkdir(exist_ok=True)
            driver.save_screenshot(str(ARTIFACTS / f"failed-{request.node.name}.png"))
        driver.quit()
        profile.cleanup()
        downloads.cleanup()
