"""Organisations come in from the project's own layout, a DfE GIAS extract and the NHS ODS GP file:
each read correctly, matched on the official code so a second import updates, closed ones inactive."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from lms.accounts.models import Agency, AgencyCategory
from lms.core.audit import AuditEntry
from lms.extensions import db
from lms.imports.organisations import Layout, gias_category
from lms.imports.readers import ReadError
from lms.imports.report import ImportKind
from tests.factories import create_agency
from tests.imports.helpers import (
    admin,
    count,
    lines_from_text,
    lines_of,
    organisation,
    organisation_coded,
    problems,
    run,
)

ORGANISATIONS = ImportKind.ORGANISATIONS


# The project's own layout ----------------------------------------------------------------------


def test_the_simple_layout_adds_each_organisation_with_its_billing_details_and_parent():
    report = run(ORGANISATIONS, "organisations.csv", by=admin())
    assert report.written and report.layout == "simple"
    assert report.counts == {"created": 5}
    school = organisation("Meadowbank Primary School")
    trust = organisation("Hollyfield Learning Trust")
    assert school.category is AgencyCategory.EDUCATION_SCHOOL
    assert school.official_code == "190001" and school.postcode == "B12 9QQ"
    assert school.billing_address == "Meadow Lane\nTownbury" and school.purchase_order == "PO-5531"
    # The trust comes after its school in the file, and still pays for it.
    assert school.parent == trust and school.payer == trust
    assert trust.short_name == "HLT" and trust.billing_email == "finance@hollyfield.example.org"
    assert organisation("Townbury Youth Football Club").is_active is False
    assert organisation("Little Acorns Day Nursery").category is AgencyCategory.EDUCATION_EARLY_YEARS


def test_importing_the_same_file_again_changes_nothing_and_writes_no_audit_entries():
    by = admin()
    run(ORGANISATIONS, "organisations.csv", by=by)
    entries = count(AuditEntry)
    again = run(ORGANISATIONS, "organisations.csv", by=by)
    assert again.written and again.counts == {"unchanged": 5}
    assert count(Agency) == 6  # five, and the admin's own
    assert count(AuditEntry) == entries


def test_a_changed_row_updates_the_organisation_it_is_matched_to():
    by = admin()
    run(ORGANISATIONS, "organisations.csv", by=by)
    changed = lines_from_text(
        "name,category,official_code,purchase_order\n"
        "Meadowbank Primary School (Townbury),Education - school,190001,PO-9999\n"
        "townbury police,Police,,PO-2000\n"
    )
    report = run(ORGANISATIONS, changed, by=by)
    assert report.counts == {"updated": 2}
    school = organisation_coded("190001")
    assert school.name == "Meadowbank Primary School (Townbury)" and school.purchase_order == "PO-9999"
    # Columns the file leaves out are left as they were.
    assert school.billing_contact == "School Business Manager" and school.parent is not None
    # Matched on the name whatever its case; the name is then written as the file writes it.
    assert organisation("townbury police").purchase_order == "PO-2000"


def test_a_dry_run_of_a_file_with_bad_rows_lists_each_problem_and_writes_nothing():
    before = count(Agency)
    report = run(ORGANISATIONS, "organisations-bad.csv", by=admin(), dry_run=True)
    assert report.dry_run and not report.written
    assert problems(report) == [
        (3, "category"),
        (4, "billing_email"),
        (5, "parent_code"),
        (6, "name"),
        (7, "official_code"),
        (8, "postcode"),
        (9, "active"),
    ]
    assert "“Schools” is not one of" in report.problems[0].reason
    assert "already on line 2" in report.problems[4].reason
    assert str(report.problems[0]).startswith("line 3, column category: ")
    assert count(Agency) == before + 1  # the admin's own organisation only


def test_a_real_run_with_a_bad_row_writes_nothing():
    before = count(Agency), count(AuditEntry)
    report = run(ORGANISATIONS, "organisations-bad.csv", by=admin())
    assert not report.written and report.problems
    assert "nothing was imported" in report.summary()
    assert (count(Agency) - 1, count(AuditEntry)) == before
    assert organisation("Oakfield Primary School") is None


def test_a_clean_dry_run_says_what_would_happen_and_changes_nothing():
    report = run(ORGANISATIONS, "organisations.csv", by=admin(), dry_run=True)
    assert report.ok and report.counts == {"created": 5}
    assert "ready to import" in report.summary()
    assert organisation("Meadowbank Primary School") is None


def test_a_name_already_taken_by_an_organisation_with_another_code_is_a_problem():
    create_agency("Oakfield Primary School", official_code="111111")
    report = run(
        ORGANISATIONS,
        lines_from_text("name,category,official_code\nOakfield Primary School,Education - school,222222\n"),
    )
    assert problems(report) == [(2, "name")]
    assert "already called" in report.problems[0].reason


def test_an_organisation_entered_by_hand_is_matched_by_name_and_given_its_code():
    hand = create_agency(
        "Meadowbank Primary School", category=AgencyCategory.EDUCATION_SCHOOL, billing_contact="Pat"
    )
    run(
        ORGANISATIONS,
        lines_from_text("name,category,official_code\nMEADOWBANK primary school,Education - school,190001\n"),
    )
    db.session.refresh(hand)
    assert hand.official_code == "190001" and hand.billing_contact == "Pat"
    assert count(Agency) == 1


def test_the_layout_is_refused_when_the_first_row_is_not_headings():
    with pytest.raises(ReadError, match="layout is not one we know"):
        run(ORGANISATIONS, lines_from_text("Meadowbank Primary School,Education - school\n"))


# GIAS ------------------------------------------------------------------------------------------


def test_a_gias_extract_in_windows_1252_is_read_with_its_categories_and_trusts():
    report = run(ORGANISATIONS, "gias-establishments.csv", by=admin())
    assert report.written and report.layout == "gias"
    # 10 open establishments and the trust with two of them; the closed one not in the list is left out.
    assert report.counts == {"created": 11, "skipped": 1}
    assert organisation_coded("990004") is None
    assert organisation("St Thérèse's Preparatory School").category is AgencyCategory.EDUCATION_SCHOOL
    assert organisation_coded("990005").category is AgencyCategory.EDUCATION_EARLY_YEARS
    assert organisation_coded("990006").category is AgencyCategory.EDUCATION_POST16
    assert organisation_coded("990008").category is AgencyCategory.EDUCATION_SCHOOL
    assert organisation_coded("990011").is_active  # proposed to open
    trust = organisation_coded("TRUST-9901")
    assert trust.name == "Brookvale Learning Trust"
    assert organisation_coded("990002").payer == trust and organisation_coded("990003").payer == trust
    # A trust with one school of the file is that school's own: no parent.
    assert organisation_coded("990009").parent is None and organisation_coded("TRUST-9902") is None
    assert [n.reason for n in report.notes] == [
        "Brookvale Learning Trust is added, as the trust that pays for its 2 schools in this file."
    ]


def test_gias_addresses_become_billing_addresses_and_a_name_used_twice_gets_its_urn():
    run(ORGANISATIONS, "gias-establishments.csv", by=admin())
    first, second = organisation_coded("990001"), organisation_coded("990010")
    assert first.name == "Hawthorn Community Primary School"
    assert second.name == "Hawthorn Community Primary School (URN 990010)"
    assert first.billing_address == "Hawthorn Road\nTownbury\nTB1 1AA" and first.postcode == "TB1 1AA"


def test_a_closed_establishment_already_in_the_list_is_closed_and_a_second_import_changes_nothing():
    by = admin()
    create_agency("Old Mill Junior School", category=AgencyCategory.EDUCATION_SCHOOL, official_code="990004")
    report = run(ORGANISATIONS, "gias-establishments.csv", by=by)
    assert report.counts == {"created": 11, "deactivated": 1}
    assert organisation_coded("990004").is_active is False
    again = run(ORGANISATIONS, "gias-establishments.csv", by=by)
    assert again.counts == {"unchanged": 12}
    assert count(Agency) == 13


def test_billing_details_entered_by_l_and_d_survive_a_gias_import():
    by = admin()
    run(ORGANISATIONS, "gias-establishments.csv", by=by)
    school = organisation_coded("990001")
    school.billing_address, school.purchase_order = "Finance office\nTownbury", "PO-1"
    db.session.flush()
    assert run(ORGANISATIONS, "gias-establishments.csv", by=by).counts.get("updated") is None
    assert (school.billing_address, school.purchase_order) == ("Finance office\nTownbury", "PO-1")


def test_a_gias_file_with_bad_rows_names_each_one():
    report = run(ORGANISATIONS, "gias-establishments-bad.csv", dry_run=True)
    assert problems(report) == [(3, "URN"), (4, "EstablishmentName"), (5, "Postcode"), (6, "URN")]


@pytest.mark.parametrize(
    ("kind", "phase", "category"),
    [
        ("Community school", "Primary", AgencyCategory.EDUCATION_SCHOOL),
        ("Academy converter", "Secondary", AgencyCategory.EDUCATION_SCHOOL),
        ("Foundation special school", "Not applicable", AgencyCategory.EDUCATION_SCHOOL),
        ("Academy converter", "All-through", AgencyCategory.EDUCATION_SCHOOL),
        ("Pupil referral unit", "Not applicable", AgencyCategory.EDUCATION_SCHOOL),
        ("Other independent special school", "Not applicable", AgencyCategory.EDUCATION_SCHOOL),
        ("Local authority nursery school", "Nursery", AgencyCategory.EDUCATION_EARLY_YEARS),
        ("Community school", "Nursery", AgencyCategory.EDUCATION_EARLY_YEARS),
        ("Academy 16-19 converter", "16 plus", AgencyCategory.EDUCATION_POST16),
        ("Further education", "Not applicable", AgencyCategory.EDUCATION_POST16),
        ("Sixth form centres", "16 plus", AgencyCategory.EDUCATION_POST16),
        ("Secure units", "Not applicable", AgencyCategory.YOUTH_JUSTICE),
    ],
)
def test_gias_types_and_phases_give_the_sector(kind, phase, category):
    assert gias_category(kind, phase) is category


# NHS ODS ---------------------------------------------------------------------------------------


def test_the_ods_gp_file_without_headings_is_recognised_by_its_codes():
    report = run(ORGANISATIONS, "epraccur.csv", by=admin())
    assert report.written and report.layout == "ods"
    assert report.counts == {"created": 4, "skipped": 2}  # closed and dormant practices left out
    practice = organisation_coded("M99001")
    assert practice.name == "THE MEADOWS SURGERY" and practice.category is AgencyCategory.HEALTH_PRIMARY
    assert practice.postcode == "TB1 1MM" and practice.billing_address == "1 MEADOW ROAD\nTOWNBURY\nTB1 1MM"
    assert organisation_coded("M99005").name == "THE SURGERY (M99005)"
    assert organisation_coded("M99003") is None


def test_the_ods_file_with_headings_reads_the_same_and_closes_a_practice_already_listed():
    create_agency("HIGH STREET SURGERY", category=AgencyCategory.HEALTH_PRIMARY, official_code="M99003")
    report = run(ORGANISATIONS, "epraccur-with-headings.csv", by=admin())
    assert report.layout == "ods" and report.counts == {"created": 2, "deactivated": 1}
    assert organisation_coded("M99003").is_active is False


def test_an_ods_file_with_bad_rows_names_each_one():
    report = run(ORGANISATIONS, "epraccur-bad.csv", dry_run=True)
    assert problems(report) == [(2, "Status code"), (3, "Organisation code"), (4, "Name")]
    assert report.rows == 4


def test_a_layout_can_be_forced():
    with pytest.raises(ReadError, match="missing the column"):
        run(ORGANISATIONS, lines_of("organisations.csv"), layout=Layout.GIAS)
    report = run(ORGANISATIONS, "epraccur.csv", layout=Layout.ODS, dry_run=True)
    assert report.layout == "ods" and report.ok


def test_only_l_and_d_may_import():
    from lms.accounts.models import Role
    from lms.core.errors import PermissionDenied
    from tests.factories import create_user

    with pytest.raises(PermissionDenied):
        run(ORGANISATIONS, "organisations.csv", by=create_user(roles=(Role.FINANCE,)))
    assert db.session.scalar(sa.select(sa.func.count(Agency.id))) == 1
