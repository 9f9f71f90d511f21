"""Forms of uploads by users: one uploaded file, and a file's owner sharing it."""

from datetime import datetime
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, AnonymousUser, Group
from django.core.files.uploadedfile import UploadedFile
from django.db.models import QuerySet
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from downloads.conf import app_settings


class UploadForm(forms.Form):
    file = forms.FileField(
        error_messages={
            "required": "No file arrived (nothing was chosen, or the upload was cut off).",
            "empty": "The file is empty: there is nothing to store.",
        }
    )

    # Set (by the view) when storing this upload failed while the request was read.
    storage_error = ""

    def clean_file(self) -> UploadedFile:
        upload: UploadedFile = self.cleaned_data["file"]
        limit = app_settings().user_upload_max_bytes
        if upload.size is not None and upload.size > limit:
            raise forms.ValidationError(
                f"This file is {filesizeformat(upload.size)}; the limit is "
                f"{filesizeformat(limit)}. Nothing was stored."
            )
        return upload

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or self.cleaned_data
        if self.storage_error:
            # Whatever the file field said (a file refused while it was read arrives as none).
            self.errors.pop("file", None)
            self.add_error("file", self.storage_error)
        return cleaned

    def first_error(self) -> str:
        for errors in self.errors.values():
            return str(errors[0])
        return "The upload was refused."


def groups_to_share_with(owner: AbstractUser | AnonymousUser) -> QuerySet[Group]:
    """An owner shares with the groups they belong to (superusers: with any group)."""
    groups = Group.objects.order_by("name")
    if owner.is_superuser:
        return groups
    return groups.filter(user__pk=owner.pk or 0)


class ShareForm(forms.Form):
    """Grant one user (by user name) or one of the owner's groups access, maybe until a moment."""

    username = forms.CharField(label="User", required=False, max_length=150)
    group = forms.ModelChoiceField(queryset=Group.objects.none(), required=False)
    expires_at = forms.DateTimeField(
        label="Until",
        required=False,
        help_text="Optional, e.g. 2027-01-31 18:00. Leave empty for access without end.",
        # The browser's picker sends and shows ISO 8601 ("2027-01-31T18:00"), in DJANGO_TIME_ZONE.
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )

    def __init__(self, *args: Any, owner: AbstractUser | AnonymousUser, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.owner = owner
        group_field = self.fields["group"]
        assert isinstance(group_field, forms.ModelChoiceField)
        group_field.queryset = groups_to_share_with(owner)

    def clean_username(self) -> Any:
        username = self.cleaned_data["username"].strip()
        if not username:
            return None
        user_model = get_user_model()
        try:
            user = user_model.objects.get(**{user_model.USERNAME_FIELD: username}, is_active=True)
        except user_model.DoesNotExist:
            raise forms.ValidationError(f"There is no user “{username}”.") from None
        if user.pk == self.owner.pk:
            raise forms.ValidationError("You own this file already.")
        return user

    def clean_expires_at(self) -> datetime | None:
        moment: datetime | None = self.cleaned_data["expires_at"]
        if moment is not None and moment <= timezone.now():
            raise forms.ValidationError("That moment has passed: choose one in the future.")
        return moment

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or self.cleaned_data
        if self.errors:
            return cleaned
        if (cleaned.get("username") is None) == (cleaned.get("group") is None):
            raise forms.ValidationError("Name one user or choose one group.")
        return cleaned
