"""The HTML part of a message: its text, set out with the least markup that reads well.

Paragraphs become <p>, a block of "Label: value" lines (a session's details) becomes a two-column
table with row headers, and web addresses become links. Everything else is escaped, so the HTML
says exactly what the text says.
"""

from __future__ import annotations

import re

from flask import current_app
from markupsafe import Markup, escape

LINK = re.compile(r"https?://[^\s<>\"']+")
FIELD = re.compile(r"([A-Z][A-Za-z&' ]{0,30}):[ \t]+(\S.*)")
# A sentence's full stop or a closing bracket after an address is not part of it.
NOT_IN_LINK = ".,;:!?)]"


def linked(text: str) -> Markup:
    """Escaped text with its web addresses as links."""
    parts, position = [], 0
    for match in LINK.finditer(text):
        url = match.group(0).rstrip(NOT_IN_LINK)
        end = match.start() + len(url)
        parts += [escape(text[position : match.start()]), Markup('<a href="{0}">{0}</a>').format(url)]
        position = end
    parts.append(escape(text[position:]))
    return Markup("").join(parts)


def _details(lines: list[str]) -> Markup:
    rows = []
    for line in lines:
        label, value = FIELD.fullmatch(line).groups()
        rows.append(
            Markup(
                '<tr><th scope="row" style="text-align:left;vertical-align:top;padding:2px 16px 2px 0;'
                'font-weight:bold;">{}</th><td style="padding:2px 0;">{}</td></tr>'
            ).format(label, linked(value))
        )
    return Markup('<table style="border-collapse:collapse;margin:0 0 16px;">{}</table>').format(
        Markup("").join(rows)
    )


def text_to_html(text: str) -> Markup:
    """A message's text as HTML: paragraphs, details tables and links."""
    blocks = []
    for block in re.split(r"\n[ \t]*\n", text.strip()):
        lines = [line.strip() for line in block.splitlines() if line.strip()]
        if not lines:
            continue
        if len(lines) > 1 and all(FIELD.fullmatch(line) for line in lines):
            blocks.append(_details(lines))
        else:
            # The text is wrapped for plain-text readers; in HTML the paragraph flows.
            blocks.append(Markup('<p style="margin:0 0 16px;">{}</p>').format(linked(" ".join(lines))))
    return Markup("\n").join(blocks)


def html_body(text: str, subject: str) -> str:
    """The whole HTML document for a message (rendered without a request's context: the sender
    runs in jobs and commands too)."""
    layout = current_app.jinja_env.get_template("messages/_layout.html")
    return layout.render(content=text_to_html(text), subject=subject, config=current_app.config)
