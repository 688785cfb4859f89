"""Pages of a list: the items, the total, and links to the pages either side."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from flask import request, url_for

from lms.extensions import db


def _link(page: int) -> str:
    args = request.args.to_dict()
    args["page"] = str(page)
    return url_for(request.endpoint, **(request.view_args or {}), **args)


def envelope(items: Sequence[Any], *, page: int, per_page: int, total: int) -> dict:
    pages = max((total + per_page - 1) // per_page, 1)
    return {
        "items": list(items),
        "meta": {
            "page": page,
            "per_page": per_page,
            "total": total,
            "pages": pages,
            "links": {
                "self": _link(page),
                "next": _link(page + 1) if page < pages else None,
                "prev": _link(min(page - 1, pages)) if page > 1 else None,
            },
        },
    }


def paged(query: sa.Select, args: dict, present: Callable[[list], list[dict]]) -> dict:
    """One page of the query's rows, each turned into what the API shows by `present` (given the
    whole page at once, so it can count for all of them in one query)."""
    result = db.paginate(query, page=args["page"], per_page=args["per_page"], error_out=False, count=True)
    return envelope(
        present(list(result.items)), page=args["page"], per_page=args["per_page"], total=result.total or 0
    )
