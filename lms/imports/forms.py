"""The import pages' forms: choosing and uploading a file, then confirming its import."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, HiddenField
from wtforms.validators import InputRequired, Optional, Regexp

from lms.core.forms import SelectField, options
from lms.imports.organisations import Layout
from lms.imports.report import ImportKind
from lms.imports.services import ImportOptions
from lms.imports.uploads import TOKEN


class UploadForm(FlaskForm):
    kind = SelectField(
        "What the file holds",
        [InputRequired("Choose what the file holds.")],
        choices=options(ImportKind.choices()),
    )
    layout = SelectField(
        "Layout of an organisations file",
        [Optional()],
        choices=options([("", "Work it out from the file"), *Layout.choices()]),
        description="Only for organisations. The layout is usually recognised from the file's first row.",
    )
    invitations = BooleanField("Email each new person an invitation to choose a password", default=True)
    file = FileField(
        "The file",
        [FileRequired("Choose the file to import.")],
        description="A CSV file or an Excel workbook (.xlsx, its first sheet), with the column headings "
        "in the first row. Up to 20 MB.",
        render_kw={"accept": ".csv,.txt,.xlsx,.zip"},
    )

    def chosen_kind(self) -> ImportKind:
        return ImportKind(self.kind.data)

    def chosen_options(self) -> ImportOptions:
        layout = Layout(self.layout.data) if self.layout.data else None
        return ImportOptions(layout=layout, invitations=bool(self.invitations.data))


class ConfirmForm(FlaskForm):
    """Import the file that was checked: only its token travels back."""

    token = HiddenField(validators=[InputRequired(), Regexp(TOKEN)])
