"""The admin's "view on site" link (/admin/r/<content_type_id>/<object_id>/), from the admin's view.

Django's own view looks the object up with the model's default manager: a file outside the access
policy was a 302 to its page (then a 404 there) while a missing one was a 404 at once, which told
any staff user which ids exist. Here an object the model's admin would not show this user is
answered exactly as a missing one, before Django's view is asked to redirect.
"""

from django.contrib import admin
from django.contrib.admin.exceptions import NotRegistered
from django.contrib.contenttypes.models import ContentType
from django.contrib.contenttypes.views import shortcut
from django.core.exceptions import ValidationError
from django.db.models import Model
from django.http import Http404, HttpRequest, HttpResponse


def view_on_site(request: HttpRequest, content_type_id: str, object_id: str) -> HttpResponse:
    model = _model(content_type_id)
    if model is not None and not _admin_shows(request, model, object_id):
        # Django's words for a missing object, so both answers are the same.
        raise Http404(f"Content type {content_type_id} object {object_id} doesn\u2019t exist")
    response: HttpResponse = shortcut(request, content_type_id, object_id)
    return response


def _model(content_type_id: str) -> type[Model] | None:
    try:
        return ContentType.objects.get_for_id(int(content_type_id)).model_class()
    except (ValueError, ContentType.DoesNotExist):
        return None  # Django's view answers these with its own 404


def _admin_shows(request: HttpRequest, model: type[Model], object_id: str) -> bool:
    try:
        model_admin = admin.site.get_model_admin(model)
    except NotRegistered:
        return True  # no admin queryset to narrow it: Django's view decides, as before
    try:
        return model_admin.get_queryset(request).filter(pk=object_id).exists()
    except (ValueError, ValidationError):
        return False  # not an id of this model at all
