"""The admin's file field: what is stored and a checked download link, never a storage URL."""

from typing import Any

from django.contrib.admin.widgets import AdminFileWidget
from django.db.models.fields.files import FieldFile


class StoredBytesInput(AdminFileWidget):
    """A StoredFile's bytes as the admin sees them, and a file input that replaces them.

    Django's file widget links the storage key to `storage.url()`. Private files have no URL:
    locally that is MEDIA_URL, which nothing serves (always a 404); on S3 a presigned URL that
    would bypass the access policy and the download log. Instead: the facts computed from the
    bytes at upload, and a link to the download view, which checks and logs as for anyone.
    """

    template_name = "admin/downloads/widgets/stored_bytes.html"
    initial_text = "Stored"
    input_text = "Replace with"

    def is_initial(self, value: Any) -> bool:
        # Saved bytes of a saved row; the storage is never asked for a URL.
        return isinstance(value, FieldFile) and bool(value) and not value.instance._state.adding

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        if context["widget"]["is_initial"]:
            context["widget"]["stored"] = value.instance
        return context
