from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from downloads.viewonsite import view_on_site

urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Ahead of admin.site.urls, which routes this path to Django's policy-blind view.
    path(
        "admin/r/<path:content_type_id>/<path:object_id>/",
        admin.site.admin_view(view_on_site),
    ),
    path("admin/", admin.site.urls),
    path("", include("downloads.urls")),
]

# A database that cannot be used is a 503 with a short page (downloads/dbunavailable.py).
handler500 = "downloads.dbunavailable.server_error"
