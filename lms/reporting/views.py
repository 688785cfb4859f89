"""Reports for the L&D team: utilisation by agency, category, course, topic, mode and month."""

from __future__ import annotations

import csv
import io
from datetime import date

from flask import Blueprint, Response, current_app, render_template, request
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField
from wtforms.validators import Optional, ValidationError

from lms.accounts.models import Role
from lms.core.access import roles_required
from lms.core.clock import now
from lms.core.financial_year import financial_year_bounds, financial_year_label, financial_year_of
from lms.core.forms import options
from lms.core.timezones import london_date
from lms.reporting.utilisation import Dimension, utilisation

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
        return start, end, f"{start:%-d %B %Y} to {end:%-d %B %Y}"
    return start, end, financial_year_label(year)


def _reports():
    form = ReportForm(request.args)
    valid = form.validate()
    dimension = Dimension(form.by.data) if valid and form.by.data else Dimension.AGENCY
    start, end, label = _period(form) if valid else _period(ReportForm(formdata=None))
    moment = now()
    current = utilisation(dimension, start, end, now=moment)
    previous = utilisation(dimension, _previous(start), _previous(end), now=moment)
    return form, dimension, label, current, previous


@bp.route("/utilisation")
@roles_required(Role.LND_ADMIN)
def utilisation_report():
    form, dimension, label, current, previous = _reports()
    before = {row.key: row for row in previous.rows}
    by_month = utilisation(Dimension.MONTH, current.start, current.end, now=now())
    return render_template(
        "reporting/utilisation.html",
        form=form,
        dimension=dimension,
        label=label,
        report=current,
        previous=previous,
        before=before,
        by_month=by_month,
    )


@bp.route("/utilisation.csv")
@roles_required(Role.LND_ADMIN)
def utilisation_csv():
    _, dimension, label, current, previous = _reports()
    before = {row.key: row for row in previous.rows}
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            dimension.title,
            "Sessions",
            "Places offered",
            "Booked",
            "Attended",
            "Partially attended",
            "No-shows",
            "Late cancellations",
            "On-time cancellations",
            "Waiting-list demand",
            "Utilisation %",
            "Previous year attended",
            "Previous year utilisation %",
        ]
    )
    for row in [*current.rows, current.total]:
        last = before.get(row.key) if row is not current.total else previous.total
        writer.writerow(
            [
                _safe(row.label),
                row.sessions if dimension.offers_places or row is current.total else "",
                row.places if dimension.offers_places or row is current.total else "",
                row.booked,
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
    filename = f"utilisation-by-{dimension.value}-{label.replace('/', '-').replace(' ', '-')}.csv"
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.1f}"


def _safe(text: str) -> str:
    """Cells people typed never start a spreadsheet formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
