"""The project's settings plus the peers' routes and their packages' settings.

Only the benchmark's peer gunicorn runs on this module (DJANGO_SETTINGS_MODULE); it serves the
app's own URLs too, so the bench user's session logs in and lists files there as anywhere else.
"""

from project.settings import *  # noqa: F403

ROOT_URLCONF = "bench.peers.urls"

# Both X-Accel peers send nginx to the rendered template's internal location for local files
# whose Range header nginx answers itself: what a deployer of either package writes by hand
# (`location /protected/ { internal; alias MEDIA_ROOT/; }`).
PEER_ACCEL_URL = DOWNLOADS_NGINX_PREFIX + "ranges/"  # noqa: F405

# django-sendfile2, nginx backend: X-Accel-Redirect is SENDFILE_URL + the path under SENDFILE_ROOT.
SENDFILE_BACKEND = "django_sendfile.backends.nginx"
SENDFILE_ROOT = str(MEDIA_ROOT)  # noqa: F405
SENDFILE_URL = PEER_ACCEL_URL.rstrip("/")
