"""The changelist's per-row checkbox without a template render per row.

Django's `ModelAdmin.action_checkbox` renders a `CheckboxInput` through the form renderer's
templates for every row: a third of the Python time of a 100-row admin page (cProfile of the
download log's changelist, README "The admin at ten million log rows"). This writes the same
HTML directly; tests/test_admin_rows.py compares it with Django's own for the version installed.
"""

from typing import Any

from django.contrib.admin import helpers
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _


class DirectCheckboxMixin:
    """A ModelAdmin whose action checkbox is formatted, not rendered from templates."""

    def action_checkbox(self, obj: Any) -> SafeString:
        label = format_html(_("Select this object for an action - {}"), str(obj))
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            helpers.ACTION_CHECKBOX_NAME,
            str(obj.pk),
            label,
        )
