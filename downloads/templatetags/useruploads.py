"""The upload panel of My files and the owner's panel of a file's page (views_upload.py)."""

from typing import Any

from django import template

from downloads.conf import app_settings
from downloads.models import StoredFile
from downloads.uploadforms import ShareForm
from downloads.useruploads import Quota, may_upload

register = template.Library()


@register.inclusion_tag("downloads/upload_panel.html", takes_context=True)
def upload_panel(context: template.Context) -> dict[str, Any]:
    user = context["request"].user
    if not may_upload(user):
        return {"may_upload": False}
    return {
        "may_upload": True,
        "limit": app_settings().user_upload_max_bytes,
        "quota": Quota.of(user.pk),
        "csrf_token": context.get("csrf_token"),
    }


@register.inclusion_tag("downloads/owner_panel.html", takes_context=True)
def owner_panel(context: template.Context, stored: StoredFile) -> dict[str, Any]:
    user = context["request"].user
    if stored.owner_id != user.pk:
        return {"is_owner": False}
    return {
        "is_owner": True,
        "file": stored,
        "grants": stored.grants.select_related("user", "group").order_by("created", "pk"),
        # The form the page was sent back with (views_upload.share), errors and all.
        "form": context.get("share_form") or ShareForm(owner=user),
        "csrf_token": context.get("csrf_token"),
    }
