"""Reports for the L&D team: utilisation by agency, category, course, topic, mode and month."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import InputRequired, ValidationError

from lms.accounts.models import Role
from lms.core.access import roles_required
from lms.core.clock import now
from lms.core.financial_year import financial_year_bounds, financial_year_label, financial_year_of
from lms.core.formatting import format_money, format_period, format_pounds_plain, percent_value, pounds_value
from lms.core.forms import DateField, Money, Optional, SelectField, options
from lms.core.timezones import london_date
from lms.core.web import domain_errors, download, filters_from_query, query_args, render_form
from lms.finance.services import set_budget
from lms.reporting.export import table_response
from lms.reporting.pdf import render_summary
from lms.reporting.results import (
    annual_summary,
    budget_figures,
    charge_figures,
    evaluation_results,
    follow_up_results,
    summary_figures,
    summary_statements,
)
from lms.reporting.utilisation import Dimension, utilisation_compared

bp = Blueprint("reports", __name__, url_prefix="/reports")


class ReportForm(FlaskForm):
    class Meta:
        csrf = False

    by = SelectField("Break down by", [Optional()], choices=options([(d.value, d.title) for d in Dimension]))
    start = DateField("From", [Optional()])
    end = DateField("To", [Optional()])

    def validate_end(self, field):
        if field.data and self.start.data and field.data < self.start.data:
            raise ValidationError("The end date must be on or after the start date.")


def _report_form() -> ReportForm:
    """The period and breakdown from the query string; a value that is not valid is shown and ignored."""
    return filters_from_query(ReportForm(formdata=None))


def _previous(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


def _period(form: ReportForm) -> tuple[date, date, str]:
    setting = current_app.config["FINANCIAL_YEAR_START"]
    year = financial_year_of(london_date(now()), setting)
    start, end = financial_year_bounds(year, setting)
    if form.start.data or form.end.data:
        start, end = form.start.data or start, form.end.data or end
        return start, end, format_period(start, end)
    return start, end, financial_year_label(year)


def _reports(*, by_month: bool = False):
    form = _report_form()
    dimension = Dimension(form.by.data) if form.by.data else Dimension.AGENCY
    start, end, label = _period(form)
    period, before = (start, end), (_previous(start), _previous(end))
    reports = utilisation_compared(dimension, period, before, now=now(), by_month=by_month)
    return form, dimension, label, reports


@bp.route("/utilisation")
@roles_required(Role.LND_ADMIN)
def utilisation_report():
    form, dimension, label, reports = _reports(by_month=True)
    return render_template(
        "reporting/utilisation.html",
        form=form,
        dimension=dimension,
        label=label,
        report=reports.current,
        previous=reports.previous,
        before={row.key: row for row in reports.previous.rows},
        by_month=reports.by_month,
    )


@bp.route("/utilisation.<any(csv, xlsx):fmt>")
@roles_required(Role.LND_ADMIN)
def utilisation_export(fmt: str):
    _, dimension, label, reports = _reports()
    current, previous = reports.current, reports.previous
    before = {row.key: row for row in previous.rows}
    header = [
        dimension.title,
        "Sessions",
        "Places offered",
        "Booked",
        "Attendances",
        "Attended in full",
        "Attended in part",
        "No-shows",
        "Late cancellations",
        "On-time cancellations",
        "Waiting-list demand",
        "Utilisation %",
        "Previous year attendances",
        "Previous year utilisation %",
    ]
    rows = []
    for row in [*current.rows, current.total]:
        last = before.get(row.key) if row is not current.total else previous.total
        has_places = dimension.offers_places or row is current.total
        # In a spreadsheet a month is a date (its first day), so it sorts and filters as one.
        as_month = fmt == "xlsx" and dimension is Dimension.MONTH and row is not current.total
        rows.append(
            [
                _first_day(row.key) if as_month else row.label,
                row.sessions if has_places else "",
                row.places if has_places else "",
                row.booked,
                row.attended_total,
                row.attended,
                row.partial,
                row.no_shows,
                row.late_cancellations,
                row.on_time_cancellations,
                row.waiting,
                _percent(row.utilisation),
                last.attended_total if last else 0,
                _percent(last.utilisation) if last else "",
            ]
        )
    return table_response(
        fmt,
        f"utilisation-by-{dimension.value}-{_slug(label)}",
        "Utilisation",
        header,
        rows,
        heading=f"Utilisation by {dimension.title.lower()}, {label}",
    )


def _first_day(month_key: str) -> date:
    year, month = month_key.split("-")
    return date(int(year), int(month), 1)


def _percent(value: float | None) -> float | str:
    shown = percent_value(value)
    return "" if shown is None else shown


def _slug(label: str) -> str:
    return label.replace("/", "-").replace(" ", "-")


def _year_and_period(form: ReportForm) -> tuple[int, date, date, str, tuple[date, date]]:
    setting = current_app.config["FINANCIAL_YEAR_START"]
    start, end, label = _period(form)
    year = financial_year_of(start, setting)
    return year, start, end, label, (_previous(start), _previous(end))


@bp.route("/evaluations")
@roles_required(Role.LND_ADMIN)
def evaluations_report():
    form = _report_form()
    _, start, end, label, _ = _year_and_period(form)
    return render_template(
        "reporting/evaluations.html",
        form=form,
        label=label,
        results=evaluation_results(start, end),
        followups=follow_up_results(start, end),
    )


class BudgetForm(FlaskForm):
    allocated = StringField(
        "Budget allocated for the year (£)",
        [InputRequired("Enter the budget in pounds."), Money(maximum_pence=100_000_000_000)],
        render_kw={"inputmode": "decimal"},
    )


@bp.route("/budget", methods=["GET", "POST"])
@roles_required(Role.LND_ADMIN, Role.FINANCE)
def budget():
    form = _report_form()
    year, start, end, label, _ = _year_and_period(form)
    budget_form = BudgetForm()
    if budget_form.validate_on_submit():
        with domain_errors(budget_form):
            row = set_budget(year, budget_form.allocated.pence, by=current_user, now=now())
            amount = format_money(row.allocated_pence)
            flash(f"The {financial_year_label(year)} budget is {amount}.", "success")
            return redirect(url_for("reports.budget", **query_args(exclude=())))
    figures = budget_figures(year, start, end, now=now())
    if request.method == "GET" and figures.allocated is not None:
        budget_form.allocated.data = format_pounds_plain(figures.allocated)
    return render_form(
        "reporting/budget.html",
        form=form,
        label=label,
        figures=figures,
        charges=charge_figures(start, end),
        budget_form=budget_form,
        year=year,
    )


def _summary(form: ReportForm):
    year, start, end, label, previous = _year_and_period(form)
    return annual_summary(year, label, start, end, previous, now=now())


@bp.route("/summary")
@roles_required(Role.LND_ADMIN)
def summary():
    form = _report_form()
    result = _summary(form)
    return render_template(
        "reporting/summary.html", form=form, summary=result, statements=summary_statements(result)
    )


@bp.route("/summary.pdf")
@roles_required(Role.LND_ADMIN)
def summary_pdf():
    form = _report_form()
    result = _summary(form)
    data = render_summary(
        f"Training in {result.label}",
        current_app.config["PARTNERSHIP_NAME"],
        summary_statements(result),
        summary_figures(result),
    )
    return download(data, "application/pdf", f"training-summary-{_slug(result.label)}.pdf")


@bp.route("/evaluations.<any(csv, xlsx):fmt>")
@roles_required(Role.LND_ADMIN)
def evaluations_export(fmt: str):
    form = _report_form()
    _, start, end, label, _ = _year_and_period(form)
    header = [
        "Course",
        "Evaluations",
        "Attendees",
        "Question",
        "Very low",
        "Low",
        "Medium",
        "High",
        "Very high",
        "High or very high %",
        "Mean",
    ]
    rows = []
    for course in evaluation_results(start, end):
        for q in course.questions:
            share = percent_value(q.high_share)
            mean = None if q.mean is None else round(q.mean, 2)
            rows.append(
                [
                    course.course,
                    course.evaluations,
                    course.attendees,
                    q.text,
                    *[q.counts.get(score, 0) for score in (1, 2, 3, 4, 5)],
                    share,
                    mean,
                ]
            )
    return table_response(fmt, f"evaluations-{_slug(label)}", "Evaluations", header, rows)


@bp.route("/follow-ups.<any(csv, xlsx):fmt>")
@roles_required(Role.LND_ADMIN)
def follow_ups_export(fmt: str):
    form = _report_form()
    _, start, end, label, _ = _year_and_period(form)
    results = follow_up_results(start, end)
    rows = [["Invited", results.invited], ["Answered", results.answered]]
    rows += [[f"Applied the learning: {k}", v] for k, v in results.applied.most_common()]
    rows += [[f"Barrier: {k}", v] for k, v in results.barriers.most_common()]
    rows += [[f"Better multi-agency working: {k}", v] for k, v in results.multi_agency.most_common()]
    rows += [["Managers asked", results.managers_invited], ["Managers answered", results.managers_answered]]
    if results.managers_answered:
        rows += [[f"Change seen by the manager: {k}", v] for k, v in results.manager_change]
    return table_response(fmt, f"follow-ups-{_slug(label)}", "Follow-ups", ["Measure", "Count"], rows)


@bp.route("/follow-up-managers.<any(csv, xlsx):fmt>")
@roles_required(Role.LND_ADMIN)
def manager_views_export(fmt: str):
    """Line managers' answers beside their delegates' own, without names."""
    form = _report_form()
    _, start, end, label, _ = _year_and_period(form)
    header = ["Course", "Change in practice (delegate)", "Change seen (manager)", "Manager's comment"]
    rows = [
        [view.course, view.delegate_example or "", view.change, view.comment or ""]
        for view in follow_up_results(start, end).side_by_side
    ]
    return table_response(fmt, f"follow-up-managers-{_slug(label)}", "Managers", header, rows)


@bp.route("/budget.<any(csv, xlsx):fmt>")
@roles_required(Role.LND_ADMIN, Role.FINANCE)
def budget_export(fmt: str):
    form = _report_form()
    year, start, end, label, _ = _year_and_period(form)
    figures = budget_figures(year, start, end, now=now())
    charges = charge_figures(start, end)

    rows = [
        ["Budget allocated", pounds_value(figures.allocated)],
        ["Commissioned", pounds_value(figures.commissioned)],
        ["Spent (sessions that ran)", pounds_value(figures.spent)],
        ["Places offered", figures.places_offered],
        ["Places attended", figures.attended],
        ["Cost per place offered", pounds_value(figures.per_place_offered)],
        ["Cost per place attended", pounds_value(figures.per_place_attended)],
        ["Charges raised", pounds_value(charges.raised)],
        ["Charges waived", pounds_value(charges.waived)],
        ["Charges invoiced", pounds_value(charges.invoiced)],
    ]
    return table_response(fmt, f"budget-{_slug(label)}", "Budget", ["Measure", f"{label} (£ or count)"], rows)
