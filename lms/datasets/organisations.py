"""The people and programme of a generated dataset: agencies of every category, fifty courses on
seventeen topics, the L&D team, finance and trainers, and practitioners spread over the agencies."""

from __future__ import annotations

import secrets
from datetime import timedelta

import sqlalchemy as sa

from lms.accounts.models import Agency, AgencyCategory, Role, User, UserRole
from lms.accounts.passwords import hash_password
from lms.courses.models import Course, CourseLevel, DeliveryMode, Topic
from lms.datasets.dataset import BATCH, CourseSpec, Dataset, Person, Workplace, find_or_add, progress
from lms.demo import DELIVERY_MODES, email_address, read_csv
from lms.demo_data import AGENCIES_CSV, PROGRAMME_CSV
from lms.demo_data.agencies import AGENCY_PROFILES
from lms.demo_data.people import FIRST_NAMES, LAST_NAMES, OTHER_ORGANISATIONS
from lms.demo_data.programme import COURSE_PROFILES, PARTNERSHIP_TEAM
from lms.extensions import db

PLACES = (15, 30)
TYPED_OTHER = 0.03  # people who typed their organisation rather than picking an agency

EXTRA_TOPICS = ("Early help", "Child sexual abuse", "Mental health and self-harm", "Information sharing")
EXTRA_COURSES = (  # (title pattern, level, minutes), taken in turn for each topic
    ("Introduction to {topic}", CourseLevel.FOUNDATION, 180),
    ("{Topic}: a refresher", CourseLevel.INTERMEDIATE, 120),
    ("{Topic} for managers and supervisors", CourseLevel.MANAGERS, 180),
    ("{Topic}: advanced practice", CourseLevel.ADVANCED, 360),
)
COURSES = 50

# The agencies of agencies.csv, and these: the schools, nurseries, practices and charities a city
# partnership's delegates also come from. (name, category, weight, email domain)
EXTRA_AGENCIES = (
    ("Aston Park Primary School", AgencyCategory.EDUCATION_SCHOOL, 4, "astonpark-primary"),
    ("Erdington Hall Primary School", AgencyCategory.EDUCATION_SCHOOL, 4, "erdingtonhall-primary"),
    ("Handsworth Wood Academy", AgencyCategory.EDUCATION_SCHOOL, 4, "handsworthwood-academy"),
    ("Kings Heath Primary School", AgencyCategory.EDUCATION_SCHOOL, 3, "kingsheath-primary"),
    ("Northfield Manor Academy", AgencyCategory.EDUCATION_SCHOOL, 3, "northfieldmanor-academy"),
    ("Small Heath Secondary School", AgencyCategory.EDUCATION_SCHOOL, 4, "smallheath-secondary"),
    ("Sutton Park Academy", AgencyCategory.EDUCATION_SCHOOL, 3, "suttonpark-academy"),
    ("Yardley Wood Primary School", AgencyCategory.EDUCATION_SCHOOL, 3, "yardleywood-primary"),
    ("Acocks Green Day Nursery", AgencyCategory.EDUCATION_EARLY_YEARS, 2, "acocksgreen-nursery"),
    ("Harborne Little Stars Nursery", AgencyCategory.EDUCATION_EARLY_YEARS, 2, "littlestars-harborne"),
    ("Kingstanding Children's Centre", AgencyCategory.EDUCATION_EARLY_YEARS, 2, "kingstanding-cc"),
    ("Quinton Pre-School", AgencyCategory.EDUCATION_EARLY_YEARS, 1, "quinton-preschool"),
    ("City Sixth Form College", AgencyCategory.EDUCATION_POST16, 2, "citysixthform"),
    ("South Birmingham Training Academy", AgencyCategory.EDUCATION_POST16, 1, "sbta"),
    ("Ladywood Medical Practice", AgencyCategory.HEALTH_PRIMARY, 2, "ladywood-medical"),
    ("Moseley Health Centre", AgencyCategory.HEALTH_PRIMARY, 2, "moseley-health"),
    ("Perry Barr Family Practice", AgencyCategory.HEALTH_PRIMARY, 2, "perrybarr-practice"),
    ("Community Dental Service", AgencyCategory.HEALTH_COMMUNITY, 1, "community-dental"),
    ("City Orthopaedic Hospital", AgencyCategory.HEALTH_ACUTE, 2, "city-orthopaedic"),
    ("Stechford Young People's Project", AgencyCategory.VOLUNTARY, 2, "stechford-ypp"),
    ("Women's Refuge Partnership", AgencyCategory.VOLUNTARY, 2, "refuge-partnership"),
    ("Birmingham Youth Mentoring Trust", AgencyCategory.VOLUNTARY, 2, "youth-mentoring"),
    ("Families First CIC", AgencyCategory.VOLUNTARY, 2, "familiesfirst-cic"),
    ("Longbridge Community Association", AgencyCategory.VOLUNTARY, 1, "longbridge-ca"),
    ("Sparkbrook Mosque Madrasah", AgencyCategory.FAITH, 1, "sparkbrook-madrasah"),
    ("Selly Oak Churches Youth Work", AgencyCategory.FAITH, 1, "sellyoak-churches"),
    ("City Housing Trust", AgencyCategory.HOUSING, 2, "cityhousingtrust"),
    ("Midland Supported Lodgings", AgencyCategory.HOUSING, 1, "midland-lodgings"),
    ("Bright Futures Fostering Agency", AgencyCategory.PRIVATE, 2, "brightfutures-fostering"),
    ("Oakwood Children's Homes", AgencyCategory.PRIVATE, 2, "oakwood-homes"),
    ("Elite Sports Coaching", AgencyCategory.PRIVATE, 1, "elite-coaching"),
    ("British Transport Police", AgencyCategory.POLICE, 2, "btp-police"),
    ("Solihull Metropolitan Borough Council", AgencyCategory.LOCAL_AUTHORITY, 2, "solihull-council"),
    ("Independent Safeguarding Consultant", AgencyCategory.OTHER, 1, "independent-safeguarding"),
)
JOBS_BY_CATEGORY = {
    AgencyCategory.EDUCATION_SCHOOL: ("Teacher", "Designated safeguarding lead", "Teaching assistant"),
    AgencyCategory.EDUCATION_EARLY_YEARS: ("Nursery practitioner", "Nursery manager"),
    AgencyCategory.EDUCATION_POST16: ("Lecturer", "Student welfare officer"),
    AgencyCategory.HEALTH_PRIMARY: ("Practice nurse", "GP", "Receptionist"),
    AgencyCategory.VOLUNTARY: ("Project worker", "Volunteer coordinator", "Youth worker"),
    AgencyCategory.FAITH: ("Youth leader", "Safeguarding officer"),
    AgencyCategory.HOUSING: ("Housing officer", "Support worker"),
    AgencyCategory.PRIVATE: ("Residential care worker", "Supervising social worker", "Coach"),
}
OTHER_JOBS = ("Practitioner", "Safeguarding lead", "Support worker")


# Agencies, topics, courses and staff -----------------------------------------------------------


def agency_workplaces(dataset: Dataset) -> tuple[list[Workplace], list[int]]:
    """Every agency (added where missing) as a workplace, with its weight."""
    rows, details = [], []
    for row in read_csv(AGENCIES_CSV):
        profile = AGENCY_PROFILES[row["name"]]
        category = AgencyCategory.from_title(row["category"])
        rows.append(
            agency_row(dataset, row["name"], category, row["short_name"] or None)
            | {
                "billing_contact": profile.billing_contact,
                "billing_email": profile.billing_email,
                "billing_address": profile.billing_address,
                "purchase_order": profile.purchase_order,
            }
        )
        details.append((profile.weight, profile.domains[0], profile.job_roles))
    for name, category, weight, domain in EXTRA_AGENCIES:
        billing = {"billing_email": f"accounts@{domain}.example"}
        rows.append(agency_row(dataset, name, category, None) | billing)
        details.append((weight, domain, JOBS_BY_CATEGORY.get(category, OTHER_JOBS)))
    ids = find_or_add(dataset, Agency, Agency.name, rows, "name")
    dataset.agencies = len(ids)
    workplaces = [Workplace(i, None, domain, jobs) for i, (_, domain, jobs) in zip(ids, details, strict=True)]
    return workplaces, [weight for weight, _, _ in details]


def agency_row(dataset: Dataset, name: str, category: AgencyCategory, short_name: str | None) -> dict:
    return {
        "name": name,
        "short_name": short_name,
        "category": category,
        "billing_contact": "Accounts Payable",
        "billing_email": None,
        "billing_address": f"{name}\nBirmingham",
        "purchase_order": None,
        "is_active": True,
        "created_at": dataset.set_up_at,
    }


def programme() -> list[dict]:
    """Fifty courses: the 2024/25 programme, then introductions, refreshers and the like per topic."""
    courses = []
    for row in read_csv(PROGRAMME_CSV):
        profile = COURSE_PROFILES[row["title"]]
        courses.append(
            {
                "title": row["title"],
                "topic": profile.topic,
                "level": profile.level,
                "minutes": profile.duration_minutes,
                "delivery": row["delivery"],
                "provider": profile.provider,
                "places": profile.places,
                "cost_pence": profile.cost_pounds * 100,
                "weight": int(row["sessions_commissioned"]),
            }
        )
    topics = list(dict.fromkeys(course["topic"] for course in courses)) + list(EXTRA_TOPICS)
    turn = 0
    while len(courses) < COURSES:
        topic = topics[turn % len(topics)]
        pattern, level, minutes = EXTRA_COURSES[turn // len(topics) % len(EXTRA_COURSES)]
        title = pattern.format(topic=topic[0].lower() + topic[1:], Topic=topic)
        turn += 1
        if title.lower() in (course["title"].lower() for course in courses):
            continue
        delivery = ("virtual", "in-person", "virtual+in-person", "webinar")[turn % 4]
        courses.append(
            {
                "title": title,
                "topic": topic,
                "level": level,
                "minutes": minutes,
                "delivery": delivery,
                "provider": PARTNERSHIP_TEAM,
                "places": 20 + turn % 3 * 5,
                "cost_pence": 45_000 + turn % 5 * 5_000,
                "weight": 2 + turn % 3,
            }
        )
    return courses


def add_agencies_and_programme(dataset: Dataset) -> None:
    dataset.workplaces, dataset.workplace_weights = agency_workplaces(dataset)
    courses = programme()
    names = list(dict.fromkeys(course["topic"] for course in courses))
    topic_ids = dict(
        zip(names, find_or_add(dataset, Topic, Topic.name, [{"name": n} for n in names], "name"), strict=True)
    )
    dataset.topics = len(topic_ids)
    providers = list(dict.fromkeys(course["provider"] for course in courses))
    staff = add_staff(dataset, providers)
    rows = [course_row(dataset, course, topic_ids[course["topic"]]) for course in courses]
    ids = find_or_add(dataset, Course, Course.title, rows, "title")
    cumulative = 0.0
    for course, course_id in zip(courses, ids, strict=True):
        dataset.courses.append(
            CourseSpec(
                id=course_id,
                minutes=course["minutes"],
                delivery=course["delivery"],
                places=min(max(course["places"], PLACES[0]), PLACES[1]),
                cost_pence=course["cost_pence"],
                trainer_id=staff[course["provider"]],
            )
        )
        cumulative += course["weight"]
        dataset.course_weights.append(cumulative)
    db.session.commit()


def course_row(dataset: Dataset, course: dict, topic_id: int) -> dict:
    mode = DELIVERY_MODES[course["delivery"]]
    return {
        "title": course["title"],
        "topic_id": topic_id,
        "description": "",
        "target_audience": "",
        "level": course["level"],
        "delivery_mode": DeliveryMode.WEBINAR if course["delivery"] == "webinar" else mode,
        "duration_minutes": course["minutes"],
        "provider": course["provider"],
        "is_active": True,
        "created_at": dataset.set_up_at,
    }


def add_staff(dataset: Dataset, providers: list[str]) -> dict[str, int]:
    """Two L&D admins, finance, and a trainer per provider; returns trainer ids by provider."""
    partnership = "Safeguarding Children Partnership"
    staff = [
        ("lnd", Role.LND_ADMIN, "Learning and development officer", partnership),
        ("lnd", Role.LND_ADMIN, "Learning and development officer", partnership),
        ("finance", Role.FINANCE, "Finance officer", partnership),
        *(("trainer", Role.TRAINER, "Trainer", provider) for provider in providers),
    ]
    ids = dataset.ids(User, len(staff))
    password_hash = hash_password(secrets.token_urlsafe(24))
    rows = [
        user_row(dataset, i, f"{kind}{i}@generated-staff.example", organisation, job)
        | {"password_hash": password_hash}
        for i, (kind, _, job, organisation) in zip(ids, staff, strict=True)
    ]
    db.session.execute(sa.insert(User.__table__), rows)
    db.session.execute(
        sa.insert(UserRole.__table__),
        [{"user_id": i, "role": role} for i, (_, role, _, _) in zip(ids, staff, strict=True)],
    )
    dataset.lnd_ids = list(ids[:2])
    dataset.password_hash = password_hash
    return dict(zip(providers, ids[3:], strict=True))


def user_row(dataset: Dataset, user_id: int, email: str, other: str | None, job: str) -> dict:
    first, last = dataset.rng.choice(FIRST_NAMES), dataset.rng.choice(LAST_NAMES)
    return {
        "id": user_id,
        "email": email,
        "first_name": first,
        "last_name": last,
        "job_role": job,
        "agency_id": None,
        "other_organisation": other,
        "line_manager_name": None,
        "line_manager_email": None,
        "password_hash": None,
        "session_token": secrets.token_urlsafe(32),
        "is_enabled": True,
        "created_at": dataset.set_up_at,
        "last_sign_in_at": None,
    }


# People ----------------------------------------------------------------------------------------


def add_people(dataset: Dataset, count: int) -> None:
    """Practitioners spread over the agencies by size, and a few who typed their organisation."""
    rng = dataset.rng
    typed = [Workplace(None, o.name, o.domain, (o.job_role,)) for o in OTHER_ORGANISATIONS]
    weights = list(dataset.workplace_weights)
    total = sum(weights)
    # Typed organisations share TYPED_OTHER of the people between them.
    weights += [total * TYPED_OTHER / (1 - TYPED_OTHER) / len(typed)] * len(typed)
    workplaces = rng.choices(dataset.workplaces + typed, weights, k=count)
    with progress(count, "Adding people") as bar:
        for start in range(0, count, BATCH):
            batch = workplaces[start : start + BATCH]
            ids = dataset.ids(User, len(batch))
            rows = [person_row(dataset, i, workplace) for i, workplace in zip(ids, batch, strict=True)]
            db.session.execute(sa.insert(User.__table__), rows)
            db.session.execute(
                sa.insert(UserRole.__table__), [{"user_id": i, "role": Role.PRACTITIONER} for i in ids]
            )
            db.session.commit()
            for row in rows:
                person = Person(row["id"], row["agency_id"], row["other_organisation"])
                dataset.people.append(person)
                if person.agency_id is not None:
                    dataset.colleagues.setdefault(person.agency_id, []).append(person)
            bar.update(len(batch))


def person_row(dataset: Dataset, user_id: int, workplace: Workplace) -> dict:
    rng = dataset.rng
    row = user_row(dataset, user_id, "", workplace.other_organisation, rng.choice(workplace.job_roles))
    manager_first, manager_last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    joined = timedelta(days=rng.randrange(730), minutes=rng.randrange(1440))
    return row | {
        "email": email_address(row["first_name"], row["last_name"], workplace.domain, user_id),
        "agency_id": workplace.agency_id,
        "line_manager_name": f"{manager_first} {manager_last}",
        "line_manager_email": email_address(manager_first, manager_last, workplace.domain),
        "password_hash": dataset.password_hash,
        "created_at": dataset.set_up_at - joined,
    }

