"""Every action the app writes to the audit trail has a title people read on history pages."""

from __future__ import annotations

import ast
from pathlib import Path

import lms
from lms.accounts.security import SECURITY_EVENTS
from lms.core.audit import ACTION_TITLES

PACKAGE = Path(lms.__file__).parent


def audited_names() -> dict[str, str]:
    """Each literal name given to log_action (either branch of a conditional too), with its module."""
    found: dict[str, str] = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            called = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
            if called != "log_action":
                continue
            for part in ast.walk(node.args[0]):
                if isinstance(part, ast.Constant) and isinstance(part.value, str):
                    found[part.value] = str(path.relative_to(PACKAGE))
    return found


def test_the_scan_finds_the_audited_actions():
    names = audited_names()
    assert {"lms.booking.cancelled", "lms.webhook.turned_off", "lms.person.erased"} <= set(names)


def test_every_audited_action_has_a_title():
    untitled = {name: module for name, module in audited_names().items() if name not in ACTION_TITLES}
    assert untitled == {}


def test_every_security_event_has_a_title():
    assert [name for name in SECURITY_EVENTS if name not in ACTION_TITLES] == []
