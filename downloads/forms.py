from typing import Any

from django import forms
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.files import File
from django.forms.models import BaseInlineFormSet
from django.template.defaultfilters import filesizeformat

from downloads.adminwidgets import StoredBytesInput
from downloads.conf import app_settings
from downloads.http.disposition import visible_text
from downloads.models import StoredFile


class StoredFileForm(forms.ModelForm):
    class Meta:
        model = StoredFile
        fields = ["file", "name", "description", "owner"]
        widgets = {"file": StoredBytesInput}

    # Set (by the admin) when storing this upload failed: shown on the file field.
    storage_error = ""

    def clean_file(self) -> File:
        upload: File = self.cleaned_data["file"]
        limit = app_settings().max_upload_bytes
        if upload and upload.size is not None and upload.size > limit:
            raise forms.ValidationError(
                f"This file is {filesizeformat(upload.size)}; the limit is {filesizeformat(limit)}."
            )
        return upload

    def clean_name(self) -> str:
        # Shown on pages, in the admin and the CSV exports: no invisible or reordering characters
        # there either (downloads clean the name again on the way out).
        return visible_text(self.cleaned_data["name"]).strip()

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or self.cleaned_data
        upload = self.files.get(self.add_prefix("file"))
        if upload is not None and not cleaned.get("name"):
            # The uploaded name becomes the shown name: cleaned the same way as a typed one.
            cleaned["name"] = visible_text(upload.name or "").strip() or "download"
        if self.storage_error:
            # Whatever else the file field said (an upload refused while the request was read
            # arrives as no file at all: "required"), this is why.
            self.errors.pop("file", None)
            self.add_error("file", self.storage_error)
        return cleaned


class GrantForm(forms.ModelForm):
    """One grant row of a file's inline.

    Django 6.1 checks each row's constraints against the database before the formset saves, with
    the file included (5.2 left the inline's foreign key out), so a grant deleted and given again
    in one save looked like a duplicate of the very row being deleted. One grant per user and per
    group is GrantFormSet's to check, across the rows as they will be saved; the others are
    checked here as before.
    """

    def validate_constraints(self) -> None:
        # Fields already in error are left out, as Django does: one message per mistake.
        try:
            self.instance.validate_constraints(exclude={"file", *self.errors})
        except ValidationError as error:
            self.add_error(None, error)


class GrantFormSet(BaseInlineFormSet):
    """A file's grants: one row per user and per group.

    Django's formset check skips conditional unique constraints, so without this two rows for one
    user would pass validation and fail in the database.
    """

    def clean(self) -> None:
        super().clean()
        seen: set[tuple[str, int]] = set()
        for form in self.forms:
            data = getattr(form, "cleaned_data", {})
            unused_extra_row = not form.instance.pk and not form.has_changed()
            if unused_extra_row or data.get("DELETE"):
                continue
            for field in ("user", "group"):
                holder = data.get(field)
                if holder is None:
                    continue
                if (field, holder.pk) in seen:
                    raise forms.ValidationError(
                        f"The {field} “{holder}” has more than one grant on this file."
                    )
                seen.add((field, holder.pk))


class GrantToGroupForm(forms.Form):
    group = forms.ModelChoiceField(queryset=Group.objects.order_by("name"))
    expires_at = forms.DateTimeField(
        required=False,
        label="Until",
        help_text="Optional, e.g. 2027-01-31 18:00. Leave empty for access without end.",
    )
