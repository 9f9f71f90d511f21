"""The three peers' views, each as its package's documentation has it, behind one permission
query a user would write: the file if the user owns it or holds a live grant to it, directly or
through a group (the app's policy for a plain user; no staff or superuser rules)."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import FileResponse, HttpRequest, HttpResponseBase
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.views.decorators.http import require_safe
from django_downloadview import ObjectDownloadView
from django_downloadview.nginx import x_accel_redirect
from django_sendfile import sendfile

from downloads.models import Grant, StoredFile


def permitted_files(request: HttpRequest) -> QuerySet[StoredFile]:
    user = request.user
    granted = Grant.objects.live(timezone.now()).filter(
        Q(user=user) | Q(group__user=user), file=OuterRef("pk")
    )
    return StoredFile.objects.filter(Q(owner=user) | Exists(granted))


def permitted_file(request: HttpRequest, file_id: object) -> StoredFile:
    """One query: the file, or a 404 for a file that is missing or not the user's."""
    return get_object_or_404(permitted_files(request), pk=file_id)


@login_required
@require_safe
def handwritten(request: HttpRequest, file_id: object) -> HttpResponseBase:
    """The bytes through Python: Django's FileResponse (no Range support: a range gets 200)."""
    stored = permitted_file(request, file_id)
    return FileResponse(
        stored.file.open("rb"),
        as_attachment=True,
        filename=stored.name,
        content_type=stored.content_type,
    )


@login_required
@require_safe
def sendfile2(request: HttpRequest, file_id: object) -> HttpResponseBase:
    stored = permitted_file(request, file_id)
    return sendfile(
        request,
        stored.file.path,
        attachment=True,
        attachment_filename=stored.name,
        mimetype=stored.content_type,
    )


class PermittedObjectDownloadView(ObjectDownloadView):
    model = StoredFile
    pk_url_kwarg = "file_id"
    file_field = "file"
    basename_field = "name"
    mime_type_field = "content_type"

    def get_queryset(self) -> QuerySet[StoredFile]:
        return permitted_files(self.request)


# The package's decorator: the storage URL under MEDIA_URL becomes nginx's internal location.
downloadview = login_required(
    x_accel_redirect(
        PermittedObjectDownloadView.as_view(),
        source_url=settings.MEDIA_URL,
        destination_url=settings.PEER_ACCEL_URL,
    )
)
