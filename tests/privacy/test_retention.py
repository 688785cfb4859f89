"""The retention sweep, on records of several ages: it deals with what is past its time, spares what
must stay, shows beforehand what it will do, and changes nothing when run a second time."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from lms import scheduler
from lms.accounts.models import Role, User
from lms.bookings.models import Attendance, Booking
from lms.bookings.services import book_place, close_register, mark_attendance
from lms.core.audit import AuditEntry
from lms.evaluations.models import Answer, QuestionKind, Rating
from lms.evaluations.services import current_question_set, submit_evaluation
from lms.extensions import db
from lms.finance.models import Charge, ChargeStatus, Invoice, InvoiceLine
from lms.finance.services import run_invoicing
from lms.followups.models import Applied, FollowUp
from lms.followups.services import FollowUpAnswers, invite_due, submit_follow_up
from lms.integrations.models import Integration
from lms.integrations.webhook_models import DeliveryStatus, WebhookDelivery, WebhookSubscription
from lms.integrations.webhooks import new_secret, queue_ping
from lms.messages.models import OutboxMessage
from lms.privacy.retention import Policy, last_year_past_keeping, retention_plan, sweep_retention
from tests.conftest import csrf_token, sign_in
from tests.factories import NOW, create_course, create_session, create_user


def at(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, 10, 0, tzinfo=UTC)


def person(name: str, registered: datetime, signed_in: datetime | None, **fields) -> User:
    user = create_user(f"{name.lower()}@example.org", first_name=name, last_name="Ages", **fields)
    user.created_at, user.last_sign_in_at = registered, signed_in
    return user


def attended(course, who: User, when: datetime, trainer: User, *, comment: str, example: str) -> Booking:
    """A session `who` attended at `when`, evaluated with `comment`, followed up with `example`."""
    session = create_session(course=course, trainer=trainer, starts_at=when)
    booking = book_place(session, who, by=who, now=when - timedelta(days=30))
    mark_attendance(booking, Attendance.ATTENDED, by=trainer, now=when)
    close_register(session, by=trainer, now=session.ends_at)
    questions = current_question_set(course, now=session.ends_at)
    answers = {q.id: comment if q.kind is QuestionKind.TEXT else "4" for q in questions.questions}
    submit_evaluation(booking, questions, answers, by=who, now=session.ends_at + timedelta(hours=2))
    invite_due(session.ends_at + timedelta(days=42))
    follow_up = db.session.scalar(sa.select(FollowUp).where(FollowUp.booking_id == booking.id))
    submit_follow_up(
        follow_up,
        FollowUpAnswers(Applied.YES, example, Rating.HIGH),
        by=who,
        now=session.ends_at + timedelta(days=43),
    )
    return booking


def missed(course, people: list[User], when: datetime, trainer: User) -> None:
    session = create_session(course=course, trainer=trainer, starts_at=when)
    bookings = [book_place(session, p, by=p, now=when - timedelta(days=30)) for p in people]
    for booking in bookings:
        mark_attendance(booking, Attendance.NO_SHOW, by=trainer, now=when)
    close_register(session, by=trainer, now=session.ends_at)


@dataclasses.dataclass
class Ages:
    ancient: User  # nothing since 2018: anonymised
    keeper: User  # billed in 2018/19 but signed in last year: kept, their old invoice line anonymised
    middle: User  # attended in 2022: kept, their comments removed
    recent: User  # attended in 2025: untouched
    coming: User  # old, with a session to come: kept
    owing: User  # old, with a charge not yet invoiced: kept
    trainer: User  # old, a trainer: kept


def build_ages() -> Ages:
    trainer = create_user("old.trainer@example.org", roles=(Role.TRAINER,))
    trainer.created_at = at(2015, 3, 1)
    finance = create_user(roles=(Role.FINANCE,))
    course = create_course("Child Sexual Exploitation")
    ages = Ages(
        ancient=person("Ancient", at(2016, 1, 10), at(2018, 6, 1)),
        keeper=person("Keeper", at(2016, 1, 10), at(2025, 6, 1)),
        middle=person("Middle", at(2021, 2, 1), at(2022, 9, 1)),
        recent=person("Recent", at(2025, 1, 1), at(2025, 11, 1)),
        coming=person("Coming", at(2016, 1, 10), at(2017, 1, 1)),
        owing=person("Owing", at(2016, 1, 10), at(2017, 1, 1)),
        trainer=trainer,
    )
    attended(
        course, ages.ancient, at(2018, 5, 10), trainer, comment="Ancient comment", example="Ancient example"
    )
    missed(course, [ages.ancient, ages.keeper], at(2018, 9, 12), trainer)
    run_invoicing(date(2018, 4, 1), date(2019, 3, 31), by=finance, now=at(2019, 4, 5))
    missed(course, [ages.owing], at(2019, 6, 10), trainer)
    attended(
        course, ages.middle, at(2022, 6, 15), trainer, comment="Middle comment", example="Middle example"
    )
    attended(
        course, ages.recent, at(2025, 10, 1), trainer, comment="Recent comment", example="Recent example"
    )
    coming = create_session(course=course, trainer=trainer, starts_at=NOW + timedelta(days=30))
    book_place(coming, ages.coming, by=ages.coming, now=NOW - timedelta(days=1))
    # Every email queued so far went when it was written.
    db.session.execute(sa.update(OutboxMessage).values(sent_at=OutboxMessage.created_at))
    webhook_events_of_several_ages()
    db.session.flush()
    return ages


def webhook_events_of_several_ages() -> None:
    """Webhook events sent in 2019 and ten days ago, one given up on in 2019, one still waiting."""
    ledger = Integration(name="Finance ledger", created_at=at(2018, 1, 1))
    subscription = WebhookSubscription(
        integration=ledger,
        url="https://ledger.example.org/hook",
        secret=new_secret(),
        created_at=at(2018, 1, 1),
    )
    db.session.add(subscription)
    db.session.flush()
    for when, status in (
        (at(2019, 1, 1), DeliveryStatus.DELIVERED),
        (at(2019, 2, 1), DeliveryStatus.FAILED),
        (at(2019, 3, 1), DeliveryStatus.PENDING),
        (NOW - timedelta(days=10), DeliveryStatus.DELIVERED),
    ):
        delivery = queue_ping(subscription, now=when)
        delivery.status = status
        delivery.delivered_at = when if status is DeliveryStatus.DELIVERED else None
        delivery.failed_at = when if status is DeliveryStatus.FAILED else None


def everything() -> dict[str, list]:
    """Every row of every table, to tell whether anything changed."""
    db.session.flush()
    db.session.expire_all()
    return {
        table.name: sorted(map(tuple, db.session.execute(sa.select(table)).all()), key=repr)
        for table in db.metadata.sorted_tables
    }


def test_the_page_shows_the_settings_in_words_and_what_the_next_sweep_will_do(client, app_context):
    build_ages()
    lnd = create_user(roles=(Role.LND_ADMIN,))
    sign_in(client, lnd)
    page = client.get("/admin/data-retention").get_data(as_text=True)
    assert "nobody has signed in to or booked with for 6 years" in page
    assert (
        "Invoices, credit notes and their lines are kept for 6 years after the end of the financial year"
        in page
    )
    assert "Ancient Ages" in page and "Keeper Ages" not in page.split("Invoice lines")[0]
    assert "Next sweep: 1 record." in page and "Next sweep: 2 records." in page

    response = client.post(
        "/admin/data-retention/run", data={"csrf_token": csrf_token(client, "/admin/data-retention")}
    )
    assert response.status_code == 302
    page = client.get("/admin/data-retention").get_data(as_text=True)
    assert "Next sweep: 0 records." in page and "Next sweep: 1 record." not in page
    assert (
        db.session.scalar(sa.select(AuditEntry).where(AuditEntry.name == "lms.retention.run")).actor_id
        == lnd.id
    )


def test_the_sweep_deals_with_what_is_past_its_time_and_spares_the_rest(app_context):
    ages = build_ages()
    plan = {due.rule.key: due for due in retention_plan(NOW)}
    assert plan["accounts"].count == 1 and plan["accounts"].examples[0].startswith("Ancient Ages")
    assert plan["evaluations"].count == 2 and plan["follow_ups"].count == 2
    assert plan["finance"].count == 2
    old_entries = plan["audit"].count
    assert old_entries > 0 and plan["messages"].count > 0
    assert plan["webhooks"].count == 2
    money = db.session.scalar(sa.select(sa.func.sum(InvoiceLine.amount_pence)))
    invoices = db.session.scalar(sa.select(sa.func.sum(Invoice.total_pence)))

    done = scheduler.retention(NOW)

    assert done == sum(due.count for due in plan.values())
    db.session.expire_all()
    assert ages.ancient.is_erased and ages.ancient.full_name == f"Former delegate #{ages.ancient.id}"
    for kept in (ages.keeper, ages.middle, ages.recent, ages.coming, ages.owing, ages.trainer):
        assert not kept.is_erased, kept.email
    # The keeper's name goes from the invoice line of 2018/19; the amounts stay.
    names = db.session.scalars(sa.select(InvoiceLine.delegate_name).order_by(InvoiceLine.id)).all()
    assert names == [f"Former delegate #{ages.ancient.id}", f"Former delegate #{ages.keeper.id}"]
    assert db.session.scalar(sa.select(sa.func.sum(InvoiceLine.amount_pence))) == money
    assert db.session.scalar(sa.select(sa.func.sum(Invoice.total_pence))) == invoices
    assert ages.keeper.full_name == "Keeper Ages"
    # Comments older than three years are gone; ratings stay; last year's comments stay.
    texts = set(db.session.scalars(sa.select(Answer.text).where(Answer.text.is_not(None))))
    assert texts == {"Recent comment"}
    assert db.session.scalar(sa.select(sa.func.count(Answer.id)).where(Answer.rating.is_not(None))) > 0
    examples = set(db.session.scalars(sa.select(FollowUp.example).where(FollowUp.example.is_not(None))))
    assert examples == {"Recent example"}
    assert (
        db.session.scalar(sa.select(sa.func.count(Charge.id)).where(Charge.status == ChargeStatus.RAISED))
        == 1
    )
    cutoff = datetime(2020, 5, 4, 9, 0, tzinfo=UTC)
    assert not db.session.scalar(
        sa.select(sa.func.count(AuditEntry.id)).where(AuditEntry.created_at < cutoff)
    )
    year_ago = NOW - timedelta(days=365)
    assert not db.session.scalar(
        sa.select(sa.func.count(OutboxMessage.id)).where(OutboxMessage.sent_at < year_ago)
    )
    assert db.session.scalar(
        sa.select(sa.func.count(OutboxMessage.id)).where(OutboxMessage.sent_at >= year_ago)
    )
    # Webhook events sent or given up on over a year ago go; the recent one and the waiting one stay.
    left = db.session.execute(sa.select(WebhookDelivery.status, WebhookDelivery.created_at)).all()
    assert sorted(status.value for status, _ in left) == ["delivered", "pending"]


def test_a_second_run_changes_nothing(app_context):
    build_ages()
    assert sweep_retention(NOW) > 0
    before = everything()
    assert sweep_retention(NOW) == 0
    assert everything() == before
    assert all(due.count == 0 for due in retention_plan(NOW))


def test_each_run_deals_with_at_most_a_batch_of_each_kind(app_context):
    build_ages()
    policy = dataclasses.replace(Policy.from_config(), batch=1)
    total = sum(due.count for due in retention_plan(NOW, policy))
    kinds = len(retention_plan(NOW, policy))
    runs = []
    while done := sweep_retention(NOW, policy=policy):
        assert done <= kinds
        runs.append(done)
    assert sum(runs) == total and len(runs) > 1


def test_a_setting_of_0_keeps_that_kind_for_ever(app_context):
    ages = build_ages()
    policy = dataclasses.replace(Policy.from_config(), account_years=0, finance_years=0)
    plan = {due.rule.key: due for due in retention_plan(NOW, policy)}
    assert plan["accounts"].kept_for_ever and plan["accounts"].rule.words.startswith("Kept for ever")
    sweep_retention(NOW, policy=policy)
    assert not ages.ancient.is_erased
    assert "Former" not in " ".join(db.session.scalars(sa.select(InvoiceLine.delegate_name)))


def test_finance_is_kept_six_years_after_the_end_of_its_financial_year():
    # 2019/20 ended on 31 March 2020: kept until 31 March 2026, so past keeping on 1 April 2026.
    assert last_year_past_keeping(date(2026, 4, 1), 6) == 2019
    assert last_year_past_keeping(date(2026, 3, 31), 6) == 2018
    assert last_year_past_keeping(date(2026, 5, 4), 6) == 2019


def test_the_sweep_is_a_daily_job_of_the_scheduler():
    assert (scheduler.retention, 24 * 60 * 60) in scheduler.JOBS


def test_settings_out_of_range_stop_the_app_at_start_up(monkeypatch):
    from config import Config

    monkeypatch.setenv("LMS_ENV", "testing")
    assert Config().RETENTION_ACCOUNT_YEARS == 6 and Config().CERTIFICATE_NAME_AFTER_ERASURE == "hidden"
    for name, value in (
        ("RETENTION_AUDIT_YEARS", "-1"),
        ("RETENTION_BATCH", "0"),
        ("CERTIFICATE_NAME_AFTER_ERASURE", "shown"),
    ):
        with monkeypatch.context() as env:
            env.setenv(name, value)
            with pytest.raises(RuntimeError, match=name):
                Config()
