"""Signing in: the throttle that a stranger cannot turn against the owner, second factors, each
browser's sign-in, emailed sign-in links and L&D's unlock."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from lms.accounts import throttle, two_factor
from lms.accounts.models import RecoveryCode, Role, SignInSession
from lms.accounts.security import (
    WRONG_CODE,
    WRONG_PASSWORD,
    authenticate,
    confirm_registration,
    enrol_second_factor,
    factor_is_fresh,
    pending_record,
    pending_user,
    remove_second_factor,
    renew_recovery_codes,
    reset_second_factor,
    send_sign_in_link,
    sign_in_with_link,
    unlock_sign_in,
    user_for_sign_in_link,
    verify_sign_in_code,
)
from lms.accounts.services import AccountError, make_reset_token
from lms.core.audit import AuditEntry
from lms.core.errors import PermissionDenied
from lms.extensions import db
from tests.factories import NOW, PASSWORD, STAFF_TOTP_SECRET, create_user, second_factor_codes

OWN_ADDRESS = "192.0.2.10"


def sign_in(email, password=PASSWORD, address=OWN_ADDRESS, now=NOW):
    return authenticate(email, password, address=address, user_agent="Firefox/128.0 (Windows)", now=now)


def events(name: str) -> list[AuditEntry]:
    query = sa.select(AuditEntry).where(AuditEntry.name == name).order_by(AuditEntry.id)
    return list(db.session.scalars(query))


def attack(email: str, guesses: int, *, first_address: int = 0) -> int:
    """Wrong passwords from as many addresses as guesses; returns how many were slowed down
    (refused before the password was even looked at)."""
    slowed = 0
    for n in range(first_address, first_address + guesses):
        step = sign_in(email, "not the password", address=f"203.0.{113 + n // 250}.{n % 250}")
        assert step.refused
        slowed += step.held_back
    return slowed


# Passwords ------------------------------------------------------------------------------------


def test_the_right_password_signs_in_whatever_the_case_of_the_email(app_context):
    user = create_user("lee@example.org")
    step = sign_in("  LEE@example.org ")
    assert step.next_step == "done" and step.user == user and step.token
    assert user.last_sign_in_at == NOW
    [row] = db.session.scalars(sa.select(SignInSession).where(SignInSession.user_id == user.id))
    assert row.address == OWN_ADDRESS and row.browser == "Firefox on Windows"
    assert row.token_hash != step.token  # only a hash of the cookie's secret is kept
    [event] = events("lms.user.signed_in")
    assert event.data["address"] == OWN_ADDRESS and event.data["second_factor"] is False


def test_a_wrong_password_or_unknown_address_is_refused_the_same_way_and_written_down(app_context):
    user = create_user("lee@example.org")
    wrong = sign_in("lee@example.org", "wrong password")
    unknown = sign_in("nobody@example.org")
    assert wrong.problem == unknown.problem == WRONG_PASSWORD
    assert wrong.field == unknown.field == "password"
    first, second = events("lms.security.sign_in_failed")
    assert (first.subject_id, first.data["reason"]) == (user.id, "wrong password")
    assert (second.subject_id, second.data["reason"]) == (None, "unknown account")
    assert "nobody@example.org" not in str(second.data)  # what was typed is not kept


def test_someone_who_has_not_confirmed_their_address_cannot_sign_in_yet(app_context):
    user = create_user()
    user.confirmation_pending = True
    assert sign_in(user.email).problem == WRONG_PASSWORD
    step = confirm_registration(user, address=OWN_ADDRESS, user_agent="", now=NOW)
    assert step.next_step == "done" and not user.confirmation_pending
    assert sign_in(user.email).next_step == "done"


def test_repeated_failures_from_one_address_hold_that_address_back(app_context):
    user = create_user()
    for _ in range(5):
        assert sign_in(user.email, "wrong password", address="198.51.100.2").refused
    held = sign_in(user.email, address="198.51.100.2")
    assert "Too many failed sign-in attempts" in held.problem and not held.held_back
    # Another address is not held back by this one's failures, for this account or any other.
    assert sign_in(user.email, address="198.51.100.3").next_step == "done"
    assert sign_in(create_user().email, address="198.51.100.3").next_step == "done"


def test_a_hundred_guesses_from_a_hundred_addresses_leave_the_owner_able_to_sign_in(app_context):
    owner = create_user()
    assert sign_in(owner.email).next_step == "done"  # their usual address

    slowed = attack(owner.email, 100)

    assert slowed > 80  # after ten failures, guesses from new places mostly wait
    assert throttle.is_under_attack(owner.email)
    step = sign_in(owner.email)
    assert step.next_step == "done" and step.user == owner


def test_an_account_under_attack_slows_new_places_down_with_a_growing_delay_but_never_locks(app_context):
    owner = create_user()
    attack(owner.email, 10)  # up to the limit: nobody is slowed yet
    assert sign_in(owner.email, address="198.51.100.50").next_step == "done"
    owner_new_place = "198.51.100.60"
    waits = []
    moment = NOW
    for n in range(8):
        assert not sign_in(owner.email, "wrong", address=f"203.0.114.{n}", now=moment).held_back
        step = sign_in(owner.email, address=owner_new_place, now=moment)
        assert step.held_back and "Try again in" in step.problem
        waits.append(throttle.check(owner_new_place, owner.email, now=moment).wait)
        moment += timedelta(seconds=waits[-1])
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60]  # doubling, up to SIGN_IN_SLOWDOWN_MAX_SECONDS
    # Once the wait is over, the right password from the new place works.
    step = sign_in(owner.email, address=owner_new_place, now=moment)
    assert step.next_step == "done"


def test_an_owner_under_attack_can_sign_in_with_a_one_time_emailed_link(app_context):
    owner = create_user()
    assert send_sign_in_link(owner.email, now=NOW) is None  # only for an account under attack
    attack(owner.email, 20)
    message = send_sign_in_link(owner.email.upper(), now=NOW)
    assert message.recipient == owner.email and "/sign-in/link/" in message.body
    token = message.body.split("/sign-in/link/")[1].split()[0]
    assert user_for_sign_in_link(token) == owner

    step = sign_in_with_link(owner, address="198.51.100.77", user_agent="", now=NOW)
    assert step.next_step == "done" and step.method == "emailed link"
    with pytest.raises(AccountError, match="already been used"):
        user_for_sign_in_link(token)
    # The place the link was used from is the owner's now: the slow-down passes it by.
    assert sign_in(owner.email, address="198.51.100.77").next_step == "done"


def test_a_sign_in_link_expires_and_cannot_be_forged(app, app_context):
    owner = create_user()
    assert send_sign_in_link("nobody@example.org", now=NOW) is None
    token = make_reset_token(owner, purpose="sign-in-link")
    with pytest.raises(AccountError, match="not valid"):
        user_for_sign_in_link(make_reset_token(owner))  # a password reset link is not a sign-in link
    with pytest.raises(AccountError, match="not valid"):
        user_for_sign_in_link(token[:-2] + "xx")
    app.config["SIGN_IN_LINK_MAX_AGE_SECONDS"], before = -1, app.config["SIGN_IN_LINK_MAX_AGE_SECONDS"]
    try:
        with pytest.raises(AccountError, match="expired"):
            user_for_sign_in_link(token)
    finally:
        app.config["SIGN_IN_LINK_MAX_AGE_SECONDS"] = before


def test_l_and_d_clear_an_accounts_failed_sign_ins(app_context):
    admin = create_user(roles=(Role.LND_ADMIN,))
    owner = create_user()
    attack(owner.email, 15)
    assert sign_in(owner.email, address="198.51.100.90").held_back
    before = throttle.account_status(owner.email, now=NOW)
    assert before.failures == 11 and before.under_attack  # the rest waited, unchecked
    unlock_sign_in(owner, by=admin, now=NOW)
    assert throttle.account_status(owner.email, now=NOW).failures == 0
    assert sign_in(owner.email, address="198.51.100.90").next_step == "done"
    [event] = events("lms.security.unlocked")
    assert event.actor == admin and event.subject_id == owner.id and event.data["failures"] == 11
    with pytest.raises(PermissionDenied):
        unlock_sign_in(admin, by=create_user(), now=NOW)


# Second factors -------------------------------------------------------------------------------


def test_staff_with_an_authenticator_app_are_asked_for_its_code(app_context):
    finance = create_user(roles=(Role.FINANCE,))
    step = sign_in(finance.email)
    assert step.next_step == "code" and step.token is None
    assert db.session.scalar(sa.select(sa.func.count(SignInSession.id))) == 0
    record = pending_record(step, now=NOW)
    assert pending_user(record, now=NOW + timedelta(minutes=9)) == finance
    assert pending_user(record, now=NOW + timedelta(minutes=11)) is None
    assert pending_user({**record, "t": "someone else's"}, now=NOW) is None

    wrong = verify_sign_in_code(finance, "000000", address=OWN_ADDRESS, user_agent="", now=NOW)
    assert wrong.problem == WRONG_CODE and events("lms.security.second_factor_failed")
    code = two_factor.code_at(STAFF_TOTP_SECRET, NOW)
    done = verify_sign_in_code(finance, code, address=OWN_ADDRESS, user_agent="", now=NOW)
    assert done.next_step == "done"
    assert events("lms.user.signed_in")[-1].data["second_factor"] is True
    # A code works once: seen over a shoulder, it is no use afterwards.
    again = verify_sign_in_code(finance, code, address="198.51.100.5", user_agent="", now=NOW)
    assert again.problem == WRONG_CODE


def test_codes_from_the_step_either_side_are_accepted_for_clocks_that_drift(app_context):
    finance = create_user(roles=(Role.FINANCE,))
    before, now, after = second_factor_codes(NOW)
    too_late = two_factor.code_at(STAFF_TOTP_SECRET, NOW + timedelta(seconds=90))
    for code in (before, now, after):
        assert verify_sign_in_code(finance, code, address="", user_agent="", now=NOW).next_step == "done"
    assert verify_sign_in_code(finance, too_late, address="", user_agent="", now=NOW).refused


def test_wrong_codes_are_limited_per_account(app_context):
    finance = create_user(roles=(Role.FINANCE,))
    for _ in range(5):
        assert verify_sign_in_code(finance, "123456", address="", user_agent="", now=NOW).field == "code"
    right = two_factor.code_at(STAFF_TOTP_SECRET, NOW)
    held = verify_sign_in_code(finance, right, address="", user_agent="", now=NOW)
    assert "Too many wrong codes" in held.problem
    unlock_sign_in(finance, by=create_user(roles=(Role.LND_ADMIN,)), now=NOW)
    assert verify_sign_in_code(finance, right, address="", user_agent="", now=NOW).next_step == "done"


@pytest.mark.parametrize("role", [Role.LND_ADMIN, Role.FINANCE])
def test_staff_without_an_app_set_one_up_before_they_are_in(app, app_context, role):
    person = create_user(roles=(role,), second_factor=False)
    assert sign_in(person.email).next_step == "enrol"
    app.config["STAFF_TWO_FACTOR"] = False
    try:
        assert sign_in(person.email).next_step == "done"
    finally:
        app.config["STAFF_TWO_FACTOR"] = True


@pytest.mark.parametrize("role", [Role.PRACTITIONER, Role.TRAINER])
def test_an_app_is_optional_for_other_roles_and_asked_for_once_set_up(app_context, role):
    person = create_user(roles=(role,))
    assert sign_in(person.email).next_step == "done"
    secret = two_factor.new_secret()
    enrol_second_factor(person, secret, two_factor.code_at(secret, NOW), now=NOW)
    assert sign_in(person.email).next_step == "code"
    remove_second_factor(person, now=NOW)
    assert sign_in(person.email).next_step == "done"
    assert [e.subject_id for e in events("lms.security.two_factor_enabled")] == [person.id]
    assert [e.subject_id for e in events("lms.security.two_factor_removed")] == [person.id]


def test_setting_up_an_app_needs_a_code_from_it_and_gives_recovery_codes_kept_only_as_hashes(app_context):
    person = create_user(roles=(Role.LND_ADMIN,), second_factor=False)
    secret = two_factor.new_secret()
    with pytest.raises(AccountError, match="does not match"):
        enrol_second_factor(person, secret, "123456", now=NOW)
    codes = enrol_second_factor(person, secret, two_factor.code_at(secret, NOW), now=NOW)
    assert person.second_factor.totp_secret == secret
    assert len(codes) == 10 and len(set(codes)) == 10
    query = sa.select(RecoveryCode.code_hash).where(RecoveryCode.user_id == person.id)
    stored = set(db.session.scalars(query))
    assert stored == {two_factor.recovery_code_hash(code) for code in codes}
    assert not stored & set(codes)
    assert events("lms.security.two_factor_enabled")[0].subject_id == person.id


def test_a_recovery_code_signs_in_once(app_context):
    person = create_user(roles=(Role.LND_ADMIN,))
    codes = renew_recovery_codes(person, now=NOW)
    typed = codes[0].upper().replace("-", " ")  # however it is copied
    step = verify_sign_in_code(person, typed, address="", user_agent="", now=NOW)
    assert step.next_step == "done" and "9 codes left" in step.notice
    assert verify_sign_in_code(person, codes[0], address="", user_agent="", now=NOW).problem == WRONG_CODE
    assert events("lms.security.recovery_code_used")[0].data == {"left": 9}
    # New codes replace the old ones.
    renew_recovery_codes(person, now=NOW)
    assert verify_sign_in_code(person, codes[1], address="", user_agent="", now=NOW).refused


def test_staff_cannot_turn_their_second_factor_off_but_l_and_d_can_reset_a_lost_one(app_context):
    admin = create_user(roles=(Role.LND_ADMIN,))
    finance = create_user(roles=(Role.FINANCE,))
    with pytest.raises(AccountError, match="role needs"):
        remove_second_factor(finance, now=NOW)
    token = finance.session_token
    db.session.add(SignInSession(user_id=finance.id, token_hash="x" * 64, started_at=NOW))
    db.session.flush()
    reset_second_factor(finance, by=admin, now=NOW)
    assert finance.second_factor is None and finance.session_token != token
    assert db.session.scalar(sa.select(sa.func.count(SignInSession.id))) == 0
    assert sign_in(finance.email).next_step == "enrol"
    [event] = events("lms.security.two_factor_reset")
    assert event.actor == admin
    with pytest.raises(PermissionDenied):
        reset_second_factor(admin, by=finance, now=NOW)


def test_a_second_factor_is_fresh_for_some_minutes_after_it_was_given(app_context):
    finance = create_user(roles=(Role.FINANCE,))
    step = verify_sign_in_code(
        finance, two_factor.code_at(STAFF_TOTP_SECRET, NOW), address="", user_agent="", now=NOW
    )
    row = db.session.scalar(sa.select(SignInSession).where(SignInSession.user_id == finance.id))
    assert step.next_step == "done"
    assert factor_is_fresh(finance, row, now=NOW + timedelta(minutes=15))
    assert not factor_is_fresh(finance, row, now=NOW + timedelta(minutes=16))
    assert not factor_is_fresh(finance, None, now=NOW)
    practitioner = create_user()
    assert factor_is_fresh(practitioner, None, now=NOW)  # nothing to ask for

