"""Each module of programme-2024-25.csv as the L&D sub-group commissioned it: topic, what it
covers and for whom, length, provider, places, the price of a session and who delivers it;
and the venues, joining links and cancellation reasons a year of sessions uses."""

from __future__ import annotations

from dataclasses import dataclass

from lms.accounts.models import AgencyCategory
from lms.courses.models import CourseLevel
from lms.demo_data.people import (
    CONSULTANT_TRAINER,
    DA_TRAINER,
    DEMO_TRAINER,
    EXPLOITATION_TRAINER,
    GCP2_TRAINER,
    SUBSTANCE_TRAINER,
)

PARTNERSHIP_TEAM = "Safeguarding Children Partnership L&D team"
DA_PROVIDER = "Midlands Domestic Abuse Training Partnership"
EXPLOITATION_PROVIDER = "Safer Streets Training CIC"
SUBSTANCE_PROVIDER = "Pathways Recovery Training"
CONSULTANT_PROVIDER = "Equal Voices Safeguarding Consultancy"

THREE_HOURS = 180
FULL_DAY = 360  # six hours of training in a 09:30-16:30 day with lunch


@dataclass(frozen=True)
class CourseProfile:
    topic: str
    description: str
    target_audience: str
    level: CourseLevel
    duration_minutes: int
    provider: str
    # An online session's places and what the partnership pays for it; sessions-2024-25.csv gives
    # each session of the programme its own (in person fewer places, and the venue on top).
    places: int
    cost_pounds: int
    trainers: tuple[str, ...]  # trainers' emails, taking sessions in turn
    # Who books it most: staff of these kinds of agency, or whose job title has one of these
    # words. Empty for a course open to everyone, which everyone books alike.
    audience: tuple[AgencyCategory, ...] = ()
    audience_jobs: tuple[str, ...] = ()


EVERYONE = "Everyone who works or volunteers with children, young people and their families."
CASEWORKERS = (
    "Practitioners who work directly with children and families: social workers, early help, "
    "health visitors, school nurses, police officers, designated safeguarding leads."
)
CASEWORK_AGENCIES = (
    AgencyCategory.CHILDRENS_SOCIAL_CARE,
    AgencyCategory.LOCAL_AUTHORITY,
    AgencyCategory.HEALTH_COMMUNITY,
    AgencyCategory.HEALTH_ACUTE,
    AgencyCategory.EDUCATION_SCHOOL,
    AgencyCategory.POLICE,
)

COURSE_PROFILES: dict[str, CourseProfile] = {
    "Adultification: Improving Understanding and Practice": CourseProfile(
        topic="Adultification",
        description=(
            "What adultification bias is, why Black and minoritised children are more often seen "
            "as older and less vulnerable than they are, and how it shapes decisions by schools, "
            "police, health and social care. Uses local case reviews to practise seeing the child "
            "first."
        ),
        target_audience=EVERYONE,
        level=CourseLevel.INTERMEDIATE,
        duration_minutes=120,
        provider=CONSULTANT_PROVIDER,
        places=150,
        cost_pounds=1450,
        trainers=(CONSULTANT_TRAINER,),
    ),
    "Alcohol & Drugs - Delivering a Brief Intervention": CourseProfile(
        topic="Substance misuse",
        description=(
            "How to raise alcohol and drug use with a parent or young person, use the AUDIT-C "
            "screening tool, give a brief intervention in a few minutes and refer on to local "
            "treatment services."
        ),
        target_audience=(
            "Practitioners in health, early help, housing and the voluntary sector who meet "
            "parents or young people using alcohol or drugs."
        ),
        level=CourseLevel.FOUNDATION,
        duration_minutes=THREE_HOURS,
        provider=SUBSTANCE_PROVIDER,
        places=30,
        cost_pounds=850,
        trainers=(SUBSTANCE_TRAINER,),
        audience=(
            AgencyCategory.HEALTH_COMMUNITY,
            AgencyCategory.HEALTH_PRIMARY,
            AgencyCategory.HEALTH_MENTAL,
            AgencyCategory.LOCAL_AUTHORITY,
            AgencyCategory.VOLUNTARY,
            AgencyCategory.HOUSING,
        ),
    ),
    "Domestic Abuse Module 1: Understanding Coercive Control & Domestic Violence & Abuse "
    "(DVA), and its impact on children & adult victims": CourseProfile(
        topic="Domestic abuse",
        description=(
            "The Domestic Abuse Act 2021 and children as victims in their own right; patterns of "
            "coercive and controlling behaviour; the effect of living with abuse on children's "
            "development; risk assessment with DASH and referral to MARAC."
        ),
        target_audience=EVERYONE,
        level=CourseLevel.FOUNDATION,
        duration_minutes=THREE_HOURS,
        provider=DA_PROVIDER,
        places=30,
        cost_pounds=1250,
        trainers=(DA_TRAINER,),
    ),
    "Domestic Abuse Module 2: Advanced Domestic Violence & Abuse training - Knowing how to "
    "validate victims and children's disclosures (on completion of Module 1)": CourseProfile(
        topic="Domestic abuse",
        description=(
            "For those who have completed Module 1: responding to disclosures from adult and "
            "child victims without re-traumatising them, safety planning, working with the "
            "non-abusing parent, and recording that stands up in court and at conference."
        ),
        target_audience=CASEWORKERS,
        level=CourseLevel.ADVANCED,
        duration_minutes=FULL_DAY,
        provider=DA_PROVIDER,
        places=20,
        cost_pounds=1650,
        trainers=(DA_TRAINER,),
        audience=CASEWORK_AGENCIES,
    ),
    "Hidden Harm - Working with Substance Misusing Parents": CourseProfile(
        topic="Hidden harm",
        description=(
            "The impact of parental drug and alcohol use on unborn babies, children and young "
            "carers; spotting hidden harm; assessing parenting capacity alongside treatment "
            "services; and when concern becomes significant harm."
        ),
        target_audience=CASEWORKERS,
        level=CourseLevel.INTERMEDIATE,
        duration_minutes=THREE_HOURS,
        provider=SUBSTANCE_PROVIDER,
        places=30,
        cost_pounds=900,
        trainers=(SUBSTANCE_TRAINER,),
        audience=(*CASEWORK_AGENCIES, AgencyCategory.HEALTH_MENTAL),
    ),
    "Identifying, Supporting and Protecting Girls and Women from FGM (CPD Advanced)": CourseProfile(
        topic="Female genital mutilation (FGM)",
        description=(
            "Types of FGM, the communities affected and the law, including the mandatory "
            "reporting duty; talking to families sensitively; FGM protection orders; and the "
            "health and emotional support girls and women need."
        ),
        target_audience=(
            "Health professionals, teachers and designated safeguarding leads, social workers "
            "and police officers."
        ),
        level=CourseLevel.ADVANCED,
        duration_minutes=FULL_DAY,
        provider=CONSULTANT_PROVIDER,
        places=20,
        cost_pounds=1750,
        trainers=(CONSULTANT_TRAINER,),
        audience=(
            AgencyCategory.HEALTH_ACUTE,
            AgencyCategory.HEALTH_COMMUNITY,
            AgencyCategory.HEALTH_PRIMARY,
            AgencyCategory.EDUCATION_SCHOOL,
            AgencyCategory.CHILDRENS_SOCIAL_CARE,
            AgencyCategory.POLICE,
        ),
    ),
    "Introduction to Child Exploitation": CourseProfile(
        topic="Child exploitation",
        description=(
            "Criminal and sexual exploitation, county lines and online grooming: the signs, the "
            "push and pull factors, contextual safeguarding, the language we use about children "
            "who are exploited, and how to share information with the exploitation hub."
        ),
        target_audience=EVERYONE,
        level=CourseLevel.FOUNDATION,
        duration_minutes=THREE_HOURS,
        provider=EXPLOITATION_PROVIDER,
        places=35,
        cost_pounds=950,
        trainers=(EXPLOITATION_TRAINER,),
    ),
    "Child Exploitation and Youth Violence": CourseProfile(
        topic="Youth violence",
        description=(
            "How exploitation links to serious youth violence and knife crime; the adolescent "
            "brain and trauma; safety planning with young people; and the roles of the youth "
            "justice service, police and the violence reduction partnership."
        ),
        target_audience=(
            "Practitioners working with adolescents: youth workers, youth justice, schools, "
            "social care, police and health."
        ),
        level=CourseLevel.INTERMEDIATE,
        duration_minutes=THREE_HOURS,
        provider=EXPLOITATION_PROVIDER,
        places=30,
        cost_pounds=1050,
        trainers=(EXPLOITATION_TRAINER,),
        audience=(
            AgencyCategory.YOUTH_JUSTICE,
            AgencyCategory.LOCAL_AUTHORITY,
            AgencyCategory.EDUCATION_SCHOOL,
            AgencyCategory.EDUCATION_POST16,
            AgencyCategory.CHILDRENS_SOCIAL_CARE,
            AgencyCategory.POLICE,
        ),
    ),
    "NSPCC Graded Care Profile 2 (GCP2) training for practitioners": CourseProfile(
        topic="Neglect (GCP2)",
        description=(
            "How to use the NSPCC Graded Care Profile 2 to measure the quality of care a child "
            "receives, with the family, across physical care, safety, love and esteem; scoring, "
            "recording and using the results in plans. Practitioners are licensed to use GCP2 "
            "on completion."
        ),
        target_audience=(
            "Social workers, early help practitioners, health visitors, school nurses and "
            "designated safeguarding leads working with families where there is neglect."
        ),
        level=CourseLevel.INTERMEDIATE,
        duration_minutes=THREE_HOURS,
        provider="NSPCC licensed trainers for the Partnership",
        places=20,
        cost_pounds=700,
        trainers=(GCP2_TRAINER, DEMO_TRAINER),
        audience=(
            AgencyCategory.CHILDRENS_SOCIAL_CARE,
            AgencyCategory.LOCAL_AUTHORITY,
            AgencyCategory.HEALTH_COMMUNITY,
            AgencyCategory.EDUCATION_SCHOOL,
            AgencyCategory.EDUCATION_EARLY_YEARS,
        ),
    ),
    "Online Safety": CourseProfile(
        topic="Online safety",
        description=(
            "Online risks children meet today: sextortion, sharing nudes, grooming in games, "
            "harmful content and online bullying; what the law says; how to talk to children and "
            "parents; and how to report."
        ),
        target_audience=EVERYONE,
        level=CourseLevel.FOUNDATION,
        duration_minutes=THREE_HOURS,
        provider=EXPLOITATION_PROVIDER,
        places=40,
        cost_pounds=850,
        trainers=(EXPLOITATION_TRAINER,),
    ),
    "Professional Curiosity & Challenge": CourseProfile(
        topic="Professional curiosity",
        description=(
            "Lessons from local and national child safeguarding practice reviews: looking beyond "
            "what you are told, disguised compliance, respectful challenge between agencies, and "
            "the escalation policy when you disagree with a decision."
        ),
        target_audience=EVERYONE,
        level=CourseLevel.INTERMEDIATE,
        duration_minutes=THREE_HOURS,
        provider=PARTNERSHIP_TEAM,
        places=30,
        cost_pounds=800,
        trainers=(DEMO_TRAINER,),
    ),
    "Safeguarding Disabled Children & Young People": CourseProfile(
        topic="Disabled children",
        description=(
            "Why disabled children are more likely to be abused and less likely to be protected; "
            "communicating with children who do not use speech; masking and diagnostic "
            "overshadowing; and working with short breaks and residential settings."
        ),
        target_audience=CASEWORKERS,
        level=CourseLevel.INTERMEDIATE,
        duration_minutes=THREE_HOURS,
        provider=CONSULTANT_PROVIDER,
        places=30,
        cost_pounds=950,
        trainers=(CONSULTANT_TRAINER,),
        audience=(*CASEWORK_AGENCIES, AgencyCategory.PRIVATE),
    ),
    "Safeguarding for Senior Designated and Operational Managers": CourseProfile(
        topic="Safeguarding leadership",
        description=(
            "Leading safeguarding in your organisation: statutory duties under Working Together "
            "2023, managing allegations against staff and the LADO, safer recruitment, "
            "supervision, learning from reviews and the partnership's assurance framework."
        ),
        target_audience=(
            "Senior designated leads, named professionals and operational managers responsible "
            "for safeguarding in their agency."
        ),
        level=CourseLevel.MANAGERS,
        duration_minutes=FULL_DAY,
        provider=PARTNERSHIP_TEAM,
        places=20,
        cost_pounds=1700,
        trainers=(DEMO_TRAINER,),
        audience_jobs=("manager", "lead", "head", "named", "senior", "designated"),
    ),
    "Working with Resistant Families": CourseProfile(
        topic="Working with resistant families",
        description=(
            "Understanding hostility, avoidance and disguised compliance; staying focused on the "
            "child; keeping yourself safe; and using supervision and multi-agency plans when "
            "families will not engage."
        ),
        target_audience=CASEWORKERS,
        level=CourseLevel.ADVANCED,
        duration_minutes=THREE_HOURS,
        provider=PARTNERSHIP_TEAM,
        places=30,
        cost_pounds=850,
        trainers=(DEMO_TRAINER,),
        audience=CASEWORK_AGENCIES,
    ),
    "Child Exploitation: Tackling CE Together in Birmingham": CourseProfile(
        topic="Child exploitation",
        description=(
            "The city's multi-agency response to child exploitation: the screening tool, the "
            "exploitation hub and panel, the National Referral Mechanism, disruption tactics and "
            "how each agency contributes to a child's safety plan."
        ),
        target_audience=EVERYONE,
        level=CourseLevel.FOUNDATION,
        duration_minutes=THREE_HOURS,
        provider=EXPLOITATION_PROVIDER,
        places=40,
        cost_pounds=800,
        trainers=(EXPLOITATION_TRAINER,),
    ),
    "Module 1. Understanding and Responding to Coercive Control and Domestic Abuse": (
        CourseProfile(
            topic="Domestic abuse",
            description=(
                "A first module for practitioners new to domestic abuse: recognising coercive "
                "control, asking the question safely, responding to a disclosure, and the local "
                "pathways to specialist support for adults and children."
            ),
            target_audience=EVERYONE,
            level=CourseLevel.FOUNDATION,
            duration_minutes=THREE_HOURS,
            provider=DA_PROVIDER,
            places=30,
            cost_pounds=1250,
            trainers=(DA_TRAINER,),
        )
    ),
}

VENUES: tuple[str, ...] = (
    "Training Room 2, Council House, Victoria Square, Birmingham B1 1BB",
    "The Priory Rooms, 40 Bull Street, Birmingham B4 6AF",
    "Conference Room 1, Birmingham and Midland Institute, 9 Margaret Street, Birmingham B3 3BS",
    "Ground Floor Learning Suite, 1 Lancaster Circus, Birmingham B4 7DJ",
    "Meeting Room 3, Woodgate Valley Community Hub, 120 Clapgate Lane, Birmingham B32 3DE",
    "Main Hall, Sparkhill Community Centre, 40 Stratford Road, Birmingham B11 4AA",
)

ONLINE_LINK = "https://teams.example.com/l/meetup-join/{code}"
WEBINAR_LINK = "https://webinar.example.com/j/{code}"

CANCEL_REASONS: tuple[str, ...] = (
    "Trainer unwell; delegates offered places on the next date.",
    "Too few bookings to run; delegates moved to a later session.",
    "The provider withdrew at short notice; a new date is being arranged.",
)
