from django import forms
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.files import File
from django.template.defaultfilters import filesizeformat

from downloads.models import StoredFile


class StoredFileForm(forms.ModelForm):
    class Meta:
        model = StoredFile
        fields = ["file", "name", "description", "owner"]

    def clean_file(self) -> File:
        upload: File = self.cleaned_data["file"]
        limit = settings.DOWNLOADS_MAX_UPLOAD_BYTES
        if upload and upload.size is not None and upload.size > limit:
            raise forms.ValidationError(
                f"This file is {filesizeformat(upload.size)}; the limit is {filesizeformat(limit)}."
            )
        return upload


class GrantToGroupForm(forms.Form):
    group = forms.ModelChoiceField(queryset=Group.objects.order_by("name"))
    expires_at = forms.DateTimeField(
        required=False,
        label="Until",
        help_text="Optional, e.g. 2027-01-31 18:00. Leave empty for access without end.",
    )
