from django.urls import path

from downloads import views, views_exports, views_media, views_share, views_tokens, views_upload

app_name = "downloads"

urlpatterns = [
    path("", views.file_list, name="file-list"),
    path("files/<uuid:file_id>/", views.file_detail, name="file-detail"),
    # Any id, not only a UUID: the view answers a malformed one with the same 404, logged.
    path("files/<str:file_id>/download", views.download, name="download"),
    path("api/files/", views.api_files, name="api-files"),
    path("files.zip", views_exports.download_zip, name="zip"),
    path("files.csv", views_exports.export_files_csv, name="files-csv"),
    # Uploads by users, and a file's owner sharing or deleting it (views_upload.py).
    path("files/upload", views_upload.upload, name="upload"),
    path("files/<uuid:file_id>/grants", views_upload.share, name="file-share"),
    path("files/<uuid:file_id>/grants/revoke", views_upload.revoke, name="grant-revoke"),
    path("files/<uuid:file_id>/delete", views_upload.delete, name="file-delete"),
    path("account/tokens/", views_tokens.tokens, name="tokens"),
    path("account/tokens/<int:token_id>/revoke", views_tokens.revoke, name="token-revoke"),
    # Share links: any token reaches the view, which answers a malformed one with the same 404.
    path("s/<str:token>", views_share.shared, name="shared"),
    path("share/", views_share.share_create, name="share-create"),
    path("share/<int:link_id>/revoke", views_share.share_revoke, name="share-revoke"),
    # Signed media URLs (downloads/signedmedia.py): any token reaches the view, which answers
    # a malformed one with the same 403 as a tampered or expired one.
    path("m/<path:token>", views_media.signed_media, name="signed-media"),
]
