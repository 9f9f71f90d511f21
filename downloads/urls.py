from django.urls import path

from downloads import views, views_exports, views_tokens

app_name = "downloads"

urlpatterns = [
    path("", views.file_list, name="file-list"),
    path("files/<uuid:file_id>/", views.file_detail, name="file-detail"),
    # Any id, not only a UUID: the view answers a malformed one with the same 404, logged.
    path("files/<str:file_id>/download", views.download, name="download"),
    path("api/files/", views.api_files, name="api-files"),
    path("files.zip", views_exports.download_zip, name="zip"),
    path("files.csv", views_exports.export_files_csv, name="files-csv"),
    path("account/tokens/", views_tokens.tokens, name="tokens"),
    path("account/tokens/<int:token_id>/revoke", views_tokens.revoke, name="token-revoke"),
]
