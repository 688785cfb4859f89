"""axe-core injected into the page Chromium shows, and the check every page must pass: no
accessibility violation and no sideways scrolling, on a phone and on a desktop."""

from __future__ import annotations

from pathlib import Path

from selenium.webdriver.remote.webdriver import WebDriver

from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.pages import resize_to

AXE = Path(__file__).resolve().parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
# WCAG 2.1 A and AA, and axe's best practices (headings, landmarks, regions). Every rule runs and
# every violating element is reported; the passes and the incomplete and inapplicable results, which
# this check never reads, keep one element each, which takes about a third off axe's time on a page.
RULES = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]},
    "resultTypes": ["violations"],
}


def axe_violations(browser: WebDriver) -> list[str]:
    """Each violation on the page as "rule: target, target" (empty when the page is clean)."""
    if not browser.execute_script("return typeof window.axe !== 'undefined'"):
        browser.execute_script(AXE.read_text())
    browser.set_script_timeout(60)
    result = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, arguments[0]).then(r => done(r.violations.map("
        "  v => v.id + ': ' + v.nodes.slice(0, 4).map(n => n.target.join(' ')).join(', ')"
        "))).catch(e => done(['axe failed: ' + e]));",
        RULES,
    )
    return list(result)


def sideways_scroll(browser: WebDriver) -> str | None:
    """What makes the page wider than the window, or None when it fits."""
    return browser.execute_script(
        """
        const page = document.documentElement;
        if (page.scrollWidth <= page.clientWidth) return null;
        const wide = [...document.body.querySelectorAll('*')].filter(e => {
          const box = e.getBoundingClientRect();
          return box.right > page.clientWidth + 1 && !e.closest('.table-wrap');
        }).slice(0, 3).map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : ''));
        return `page is ${page.scrollWidth}px wide in ${page.clientWidth}px: ${wide.join(', ')}`;
        """
    )


def page_problems(browser: WebDriver, where: str) -> list[str]:
    """The page at phone and desktop width: every axe violation and any sideways scroll."""
    problems = []
    for size in (PHONE, DESKTOP):
        resize_to(browser, size)
        wide = sideways_scroll(browser)
        if wide:
            problems.append(f"{where} at {size[0]}px: {wide}")
        problems += [f"{where} at {size[0]}px: {violation}" for violation in axe_violations(browser)]
    return problems
