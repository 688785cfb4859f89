"""Documents attached to messages by reference, rendered when the message is sent.

A message names its attachment ({"document": "invoice", "id": 12, "filename": ..., "content_type":
...}) instead of carrying its bytes: nothing is rendered inside the request that queues it, and the
outbox stays small. The areas that own documents register a renderer for each kind when the app
starts, so this package never imports them.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, current_app

Renderer = Callable[[int], bytes]
EXTENSION = "message_documents"


def register_document(app: Flask, kind: str, renderer: Renderer) -> None:
    """Let messages attach documents of `kind`: `renderer(id)` returns the file's bytes."""
    app.extensions.setdefault(EXTENSION, {})[kind] = renderer


def render_document(kind: str, document_id: int) -> bytes:
    """The bytes of a document a message refers to; LookupError if the kind or the document is unknown."""
    renderer = current_app.extensions.get(EXTENSION, {}).get(kind)
    if renderer is None:
        raise LookupError(f"No renderer for {kind} documents")
    return renderer(document_id)


def document_attachment(kind: str, document_id: int, filename: str, content_type: str) -> dict:
    """An outbox attachment that refers to a document, to be rendered when the message is sent."""
    return {"document": kind, "id": document_id, "filename": filename, "content_type": content_type}
