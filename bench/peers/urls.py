"""The peers' download URLs, then the project's own (pages, login, the app's downloads)."""

from django.urls import include, path

from bench.peers import views

urlpatterns = [
    path("peers/handwritten/<uuid:file_id>", views.handwritten, name="peer-handwritten"),
    path("peers/sendfile2/<uuid:file_id>", views.sendfile2, name="peer-sendfile2"),
    path("peers/downloadview/<uuid:file_id>", views.downloadview, name="peer-downloadview"),
    path("", include("project.urls")),
]
