"""Waiting for the browser's next page without racing Chromium's document swap."""

from __future__ import annotations

from contextlib import contextmanager


def mark_page(driver) -> None:
    """Mark the current document, so that wait_for_next_page can tell when another one has replaced it."""
    driver.execute_script("window.__trdpath_old_page = true;")


def wait_for_next_page(driver, timeout: float = 20) -> None:
    """Wait until a new document has replaced the marked one and finished loading.

    Not Selenium's staleness_of on the old <html>, nor url_contains: while Chromium swaps documents,
    asking about the old node can fail with errors other than "stale element" ("Node with given id does
    not belong to the document", which failed a test under load), and the address changes before the new
    document is parsed. A new document has a new window without the mark; any WebDriver error during the
    swap is only a reason to ask again."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout, ignored_exceptions=(WebDriverException,)).until(
        lambda d: d.execute_script(
            "return window.__trdpath_old_page === undefined && document.readyState === 'complete';"))


@contextmanager
def next_page(driver, timeout: float = 20):
    """`with next_page(driver): <click or choose>` returns once the page that action loads is complete."""
    mark_page(driver)
    yield
    wait_for_next_page(driver, timeout)
