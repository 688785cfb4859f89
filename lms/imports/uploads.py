"""Keeping an uploaded file between its check (the dry run) and the import the person confirms.

The file is kept on the server, in the instance folder, under a random token; the page sends back
only the token, never a path. A token is used once, only by the person who uploaded the file, and
only for a couple of hours; files older than that are swept away whenever another is kept.
"""

from __future__ import annotations

import json
import re
import secrets
import time as wall_clock
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from flask import current_app
from werkzeug.datastructures import FileStorage

from lms.core.errors import InvalidInput
from lms.imports.organisations import Layout
from lms.imports.readers import ReadError
from lms.imports.report import ImportKind
from lms.imports.services import ImportOptions

# A file uploaded through the page: a partnership's lists are far smaller than this.
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
KEEP_FOR = timedelta(hours=2)
TOKEN = re.compile(r"^[A-Za-z0-9_-]{32}$")


class UploadError(InvalidInput):
    """The upload to import is gone: used already, too old, or not this person's."""


@dataclass
class Upload:
    data: bytes
    filename: str
    kind: ImportKind
    options: ImportOptions


def received_file(file: FileStorage) -> tuple[bytes, str]:
    """The bytes and name of an uploaded file, refused when it is over the upload limit."""
    data = file.stream.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise ReadError(
            f"The file is bigger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB, the most the page takes. "
            "Split it, or ask whoever runs the system to import it with the command."
        )
    name = Path((file.filename or "upload").replace("\\", "/")).name[:200]
    return data, name


def _folder() -> Path:
    folder = Path(current_app.instance_path) / "imports"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def keep_upload(
    data: bytes, filename: str, kind: ImportKind, options: ImportOptions, *, user_id: int, now: datetime
) -> str:
    """Keep the file for the import to come; the token that finds it again."""
    folder = _folder()
    _sweep(folder)
    token = secrets.token_urlsafe(24)
    (folder / f"{token}.data").write_bytes(data)
    facts = {
        "filename": filename,
        "kind": kind.value,
        "layout": options.layout.value if options.layout else None,
        "invitations": options.invitations,
        "user_id": user_id,
        "kept_at": now.isoformat(),
    }
    (folder / f"{token}.json").write_text(json.dumps(facts))
    return token


def take_upload(token: str, *, user_id: int, now: datetime) -> Upload:
    """The file kept under `token` for this person; it is removed, so it is imported once."""
    gone = UploadError(
        "That file is no longer waiting to be imported (it was imported already, or was "
        "checked more than two hours ago). Upload it again."
    )
    if not TOKEN.match(token or ""):
        raise gone
    folder = _folder()
    data_path, facts_path = folder / f"{token}.data", folder / f"{token}.json"
    try:
        facts = json.loads(facts_path.read_text())
        data = data_path.read_bytes()
    except (OSError, ValueError) as exc:
        raise gone from exc
    if facts.get("user_id") != user_id:
        raise gone
    data_path.unlink(missing_ok=True)
    facts_path.unlink(missing_ok=True)
    if now - datetime.fromisoformat(facts["kept_at"]) > KEEP_FOR:
        raise gone
    return Upload(
        data=data,
        filename=facts["filename"],
        kind=ImportKind(facts["kind"]),
        options=ImportOptions(
            layout=Layout(facts["layout"]) if facts.get("layout") else None,
            invitations=bool(facts.get("invitations", True)),
        ),
    )


def _sweep(folder: Path) -> None:
    oldest = wall_clock.time() - KEEP_FOR.total_seconds()
    for path in folder.glob("*.*"):
        try:
            if path.stat().st_mtime < oldest:
                path.unlink(missing_ok=True)
        except OSError:
            continue
