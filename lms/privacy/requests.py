"""Requests about a person's data that arrive by letter, email or phone, logged by L&D with their
deadline (one calendar month from receipt, UK GDPR article 12(3)) until they are answered."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from lms.accounts.models import Role, User
from lms.core.audit import log_action
from lms.core.permissions import require_role
from lms.core.timezones import london_date
from lms.extensions import db
from lms.privacy.erasure import PrivacyError, anonymise_person
from lms.privacy.models import (
    DUE_SOON_DAYS,
    DataRequest,
    ReceivedHow,
    RequestKind,
    RequestStatus,
    one_month_after,
)

ONLY_LND = "Only the L&D team can handle requests about personal data."


@dataclass(frozen=True)
class RequestDetails:
    kind: RequestKind
    person: User
    received_on: date
    received_how: ReceivedHow
    notes: str


def log_data_request(details: RequestDetails, *, by: User, now: datetime) -> DataRequest:
    """Record a request that arrived outside the system; its deadline follows from the day it arrived."""
    require_role(by, Role.LND_ADMIN, message=ONLY_LND)
    if details.received_on > london_date(now):
        raise PrivacyError("The day it arrived cannot be in the future.", field="received_on")
    if details.person.is_erased:
        raise PrivacyError("This person's data has already been erased.", field="person")
    request = DataRequest(
        kind=details.kind,
        person=details.person,
        received_on=details.received_on,
        deadline=one_month_after(details.received_on),
        received_how=details.received_how,
        notes=details.notes.strip() or None,
        status=RequestStatus.OPEN,
        logged_at=now,
        logged_by_id=by.id,
    )
    db.session.add(request)
    db.session.flush()
    log_action(
        "lms.data_request.logged",
        subject=request,
        actor=by,
        now=now,
        kind=request.kind.value,
        user_id=request.user_id,
        deadline=request.deadline.isoformat(),
    )
    return request


def _complete(request: DataRequest, *, by: User, now: datetime) -> None:
    request.status = RequestStatus.COMPLETED
    request.completed_at = now
    request.completed_by_id = by.id
    db.session.flush()
    log_action("lms.data_request.completed", subject=request, actor=by, now=now, kind=request.kind.value)


def complete_access_request(request: DataRequest, *, by: User, now: datetime) -> DataRequest:
    """L&D sent the person their data: the request is answered."""
    require_role(by, Role.LND_ADMIN, message=ONLY_LND)
    if not request.can_complete:
        raise PrivacyError.conflict("Only an open access request can be marked as answered.")
    _complete(request, by=by, now=now)
    return request


def erase_for_request(request: DataRequest, *, by: User, now: datetime) -> DataRequest:
    """Carry out an erasure request: the person's data is erased and the request completed."""
    require_role(by, Role.LND_ADMIN, message=ONLY_LND)
    if not request.can_erase:
        raise PrivacyError.conflict("Only an open erasure request can be carried out.")
    anonymise_person(request.person, by=by, now=now, reason=f"erasure request {request.id}")
    _complete(request, by=by, now=now)
    return request


def requests_query(*, open_only: bool) -> sa.Select:
    """Requests by deadline (soonest first); answered ones newest first after them."""
    query = sa.select(DataRequest)
    if open_only:
        query = query.where(DataRequest.status == RequestStatus.OPEN)
    return query.order_by(
        (DataRequest.status == RequestStatus.COMPLETED).asc(),
        DataRequest.deadline,
        DataRequest.id,
    )


def requests_due(today: date) -> list[DataRequest]:
    """Open requests overdue or due in the next DUE_SOON_DAYS days, soonest first (the dashboard)."""
    return list(
        db.session.scalars(
            sa.select(DataRequest)
            .where(
                DataRequest.status == RequestStatus.OPEN,
                DataRequest.deadline <= today + timedelta(days=DUE_SOON_DAYS),
            )
            .order_by(DataRequest.deadline, DataRequest.id)
        )
    )
