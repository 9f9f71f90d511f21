"""The form that makes a share link: expiry in days (up to DOWNLOADS_SHARE_LINK_MAX_DAYS), an
optional number of downloads, an optional note."""

from typing import Any

from django import forms
from django.core.validators import MaxValueValidator

from downloads.conf import app_settings

# More than anyone shares one link for; keeps the counter far from its column's limit.
MAX_DOWNLOADS_LIMIT = 1_000_000


class ShareLinkForm(forms.Form):
    expires_in_days = forms.IntegerField(label="Expires after (days)", min_value=1)
    max_downloads = forms.IntegerField(
        label="Downloads allowed",
        min_value=1,
        max_value=MAX_DOWNLOADS_LIMIT,
        required=False,
        help_text="Leave empty for no limit until it expires.",
    )
    note = forms.CharField(label="Note (only you see it)", max_length=200, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Read per form, not at import: the settings may differ between processes and tests.
        longest = app_settings().share_link_max_days
        days = self.fields["expires_in_days"]
        days.initial = app_settings().share_link_default_days
        days.validators.append(MaxValueValidator(longest))
        days.widget.attrs["max"] = str(longest)
        days.help_text = f"At most {longest} days."
