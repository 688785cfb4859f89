"""People for the demo: the staff who run the programme, names for practitioners, and the
organisations people typed under "other" (with the spelling variants L&D has to map)."""

from __future__ import annotations

from dataclasses import dataclass

from lms.accounts.models import Role

DEMO_PRACTITIONER = "practitioner@demo.example"
DEMO_TRAINER = "trainer@demo.example"
DEMO_LND_ADMIN = "lnd@demo.example"
DEMO_FINANCE = "finance@demo.example"
DEMO_CONTACT = "contact@demo.example"
DEMO_SIGN_INS = (DEMO_PRACTITIONER, DEMO_TRAINER, DEMO_LND_ADMIN, DEMO_FINANCE, DEMO_CONTACT)

GCP2_TRAINER = "priya.sharma@birminghamchildrenstrust.example"
DA_TRAINER = "sarah.oconnor@mdatp.example"
EXPLOITATION_TRAINER = "marcus.campbell@saferstreets-training.example"
SUBSTANCE_TRAINER = "rachel.hughes@pathways-recovery.example"
CONSULTANT_TRAINER = "amina.yusuf@equalvoices-consulting.example"


@dataclass(frozen=True)
class StaffAccount:
    email: str
    first_name: str
    last_name: str
    job_role: str
    agency: str  # a name in organisations.csv
    role: Role
    line_manager: tuple[str, str] | None = None  # name, email


STAFF: tuple[StaffAccount, ...] = (
    StaffAccount(
        DEMO_LND_ADMIN,
        "Helen",
        "Price",
        "Learning and development manager, Safeguarding Children Partnership",
        "Birmingham City Council",
        Role.LND_ADMIN,
        ("Mark Doherty", "mark.doherty@birminghamcc.example"),
    ),
    StaffAccount(
        DEMO_FINANCE,
        "Daniel",
        "Okafor",
        "Finance officer",
        "Birmingham City Council",
        Role.FINANCE,
        ("Susan Pritchard", "susan.pritchard@birminghamcc.example"),
    ),
    StaffAccount(
        DEMO_PRACTITIONER,
        "Jordan",
        "Ellis",
        "Social worker",
        "Birmingham Children's Trust",
        Role.PRACTITIONER,
        ("Nadia Rahman", "nadia.rahman@birminghamchildrenstrust.example"),
    ),
    StaffAccount(
        DEMO_CONTACT,
        "Grace",
        "Adeyemi",
        "Workforce development lead",
        "Birmingham Children's Trust",
        Role.TRAINING_CONTACT,
    ),
    StaffAccount(
        DEMO_TRAINER,
        "Alex",
        "Morgan",
        "Safeguarding trainer, Safeguarding Children Partnership",
        "Birmingham City Council",
        Role.TRAINER,
    ),
    StaffAccount(
        GCP2_TRAINER,
        "Priya",
        "Sharma",
        "Practice educator and licensed GCP2 trainer",
        "Birmingham Children's Trust",
        Role.TRAINER,
    ),
    StaffAccount(
        DA_TRAINER,
        "Sarah",
        "O'Connor",
        "Domestic abuse trainer",
        "Midlands Domestic Abuse Training Partnership",
        Role.TRAINER,
    ),
    StaffAccount(
        EXPLOITATION_TRAINER,
        "Marcus",
        "Campbell",
        "Exploitation and youth violence trainer",
        "Safer Streets Training CIC",
        Role.TRAINER,
    ),
    StaffAccount(
        SUBSTANCE_TRAINER,
        "Rachel",
        "Hughes",
        "Substance misuse trainer",
        "Pathways Recovery Training",
        Role.TRAINER,
    ),
    StaffAccount(
        CONSULTANT_TRAINER,
        "Amina",
        "Yusuf",
        "Independent safeguarding consultant and trainer",
        "Equal Voices Safeguarding Consultancy",
        Role.TRAINER,
    ),
)


@dataclass(frozen=True)
class TypedOrganisation:
    name: str  # as the person typed it
    job_role: str
    domain: str  # email domain, without ".example"


# One person each. The repeats differ in case (grouped on the mapping screen) or in punctuation
# (listed apart, for L&D to map both). Some are organisations missing from the list; the last ones
# are on the list, typed by someone who did not find them there, for L&D to map onto it.
OTHER_ORGANISATIONS: tuple[TypedOrganisation, ...] = (
    TypedOrganisation("Acorns Children's Hospice", "Children's nurse", "acorns-hospice"),
    TypedOrganisation("Acorns Children's Hospice", "Family support worker", "acorns-hospice"),
    TypedOrganisation("acorns children's hospice", "Healthcare assistant", "acorns-hospice"),
    TypedOrganisation("acorns childrens hospice", "Play specialist", "acorns-hospice"),
    TypedOrganisation("Forward Thinking Birmingham", "Mental health practitioner", "bwc-nhs"),
    TypedOrganisation("forward thinking birmingham", "Family therapist", "bwc-nhs"),
    TypedOrganisation("FORWARD THINKING BIRMINGHAM", "Support worker", "bwc-nhs"),
    TypedOrganisation("St Basils", "Young people's support worker", "stbasils"),
    TypedOrganisation("St. Basils", "Housing support worker", "stbasils"),
    TypedOrganisation("Barnardo's", "Project worker", "barnardos"),
    TypedOrganisation("Barnardos", "Children's services practitioner", "barnardos"),
    TypedOrganisation("Home-Start Birmingham", "Volunteer coordinator", "homestart-bham"),
    TypedOrganisation("Spurgeons", "Family support worker", "spurgeons"),
    TypedOrganisation("Citizens Advice Birmingham", "Adviser", "citizensadvice-bham"),
    TypedOrganisation("Kings Norton Boxing Club", "Head coach", "kn-boxing"),
    TypedOrganisation("Sparkhill Supplementary School", "Teacher", "sparkhill-supplementary"),
    TypedOrganisation("Birmingham Dental Hospital", "Dental nurse", "bchc-nhs"),
    TypedOrganisation("Midland Metropolitan University Hospital", "Staff nurse", "swbh-nhs"),
    TypedOrganisation("St Marys Primary", "Teaching assistant", "st-marys-sch"),
    TypedOrganisation("St. Mary's Primary School Harborne", "Class teacher", "st-marys-sch"),
    TypedOrganisation("Moseley Medical Centre", "Practice nurse", "moseley-medical-practice-gp"),
    TypedOrganisation("Little Acorns Nursery", "Room leader", "little-acorns-day-ey"),
    TypedOrganisation("Elmcroft Academy Trust", "Attendance and welfare officer", "elmcroft-trust"),
    TypedOrganisation("Eastside College", "Student support officer", "eastside-college"),
    TypedOrganisation("Birmingham Childrens Trust", "Family support worker", "birminghamchildrenstrust"),
    TypedOrganisation("West Mids Police", "Police constable", "westmidlands-police"),
)

FIRST_NAMES: tuple[str, ...] = (
    "Aaliyah", "Abdul", "Adam", "Aisha", "Alice", "Amelia", "Amir", "Andrew", "Anna", "Asif",
    "Ayesha", "Ben", "Bethany", "Carl", "Charlotte", "Chloe", "Claire", "Daniel", "David",
    "Deborah", "Ebony", "Eleanor", "Emily", "Emma", "Faisal", "Fatima", "Gemma", "Georgia",
    "Grace", "Hannah", "Harjit", "Harry", "Hassan", "Holly", "Imran", "Jack", "Jade", "James",
    "Jasmine", "Jasvinder", "Jennifer", "Jessica", "Joanne", "John", "Jordan", "Joseph", "Karen",
    "Kate", "Kelly", "Kerry", "Kiran", "Laura", "Lauren", "Leanne", "Lisa", "Louise", "Lucy",
    "Mandeep", "Maria", "Mark", "Matthew", "Megan", "Michael", "Mohammed", "Nadia", "Natalie",
    "Nicola", "Olivia", "Omar", "Paul", "Rachel", "Rebecca", "Richard", "Rukhsana", "Ryan",
    "Sadia", "Samantha", "Sarah", "Shabana", "Simon", "Sophie", "Stephen", "Tariq", "Thomas",
    "Tracey", "Usman", "Victoria", "Wayne", "Yasmin", "Zara",
)  # fmt: skip

LAST_NAMES: tuple[str, ...] = (
    "Ahmed", "Ali", "Allen", "Atwal", "Bailey", "Baker", "Barnes", "Begum", "Bennett", "Bibi",
    "Brown", "Campbell", "Carter", "Chauhan", "Clarke", "Collins", "Cooper", "Davies", "Dhillon",
    "Edwards", "Evans", "Fisher", "Francis", "Gill", "Graham", "Green", "Griffiths", "Hall",
    "Harris", "Hill", "Hughes", "Hussain", "Iqbal", "Jackson", "James", "Johal", "Johnson",
    "Jones", "Kaur", "Khan", "King", "Lee", "Lewis", "Mahmood", "Malik", "Marshall", "Martin",
    "Mason", "Mills", "Mitchell", "Moore", "Morris", "Murphy", "Nawaz", "O'Brien", "Owen",
    "Parker", "Patel", "Phillips", "Powell", "Price", "Rahman", "Rashid", "Roberts", "Robinson",
    "Sandhu", "Shah", "Shaw", "Singh", "Smith", "Stewart", "Taylor", "Thomas", "Thompson",
    "Turner", "Walker", "Ward", "Watson", "White", "Williams", "Wilson", "Wood", "Wright", "Young",
)  # fmt: skip
