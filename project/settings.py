"""Settings for the protected-download project.

Every value a deployer may change comes from an environment variable, read once here with a safe
local default (see the README's Configuration section for the full list).
"""

from datetime import timedelta
from pathlib import Path

from botocore.config import Config as BotoConfig
from django.core.exceptions import ImproperlyConfigured

from downloads.conf import DEFAULTS
from project.database import database_settings
from project.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DJANGO_DEBUG", default=False)

SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "Set DJANGO_SECRET_KEY (or DJANGO_DEBUG=1 for a development key). "
            "`make run` generates one into .secret_key for you."
        )
    SECRET_KEY = "django-insecure-development-key-only-used-when-DEBUG-is-on"  # noqa: S105

# Former secret keys, comma-separated: what they signed still verifies (sessions, signed media
# URLs, whose nginx keys come from them too) while the new key takes over (docs/deploy.md).
SECRET_KEY_FALLBACKS = env_list("DJANGO_SECRET_KEY_FALLBACKS", [])

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "axes",
    "downloads",
]

MIDDLEWARE = [
    # Outermost: pooled database connections go back before a body is sent (PostgreSQL only).
    "downloads.dbrelease.ReleasePooledConnectionsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Right after SecurityMiddleware, so static files skip the rest of the stack.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Below WhiteNoise (public assets keep their own headers), above everything that answers:
    # every page without a Cache-Control of its own is `private, no-store`.
    "downloads.cachecontrol.PrivateUnlessSaidMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # `Authorization: Bearer <token>` on the download URLs and the API: the token's owner as
    # request.user, no session, no cookie, no CSRF check (downloads/tokenauth.py).
    "downloads.tokenauth.BearerTokenMiddleware",
    # Before any process_view (CsrfViewMiddleware's reads the body): refuses large bodies unread.
    "downloads.bodylimit.RequestBodyLimitMiddleware",
    # An over-long search (downloads/selection.py) is a 400, on any page or changelist.
    "downloads.searchlimit.SearchLimitMiddleware",
    # Every view needs a login unless it says otherwise (login page, JSON API's own 401);
    # Django's, asking the view first, so a view needing no login reads no session.
    "downloads.loginrequired.ViewFirstLoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: turns a refused login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "project.urls"
WSGI_APPLICATION = "project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": database_settings(BASE_DIR)}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Django's database sessions and ModelBackend, with their per-request SELECT compiled once
# (downloads/sessions.py says why sessions stay in the database).
SESSION_ENGINE = "downloads.sessions"
# django-axes first: a locked-out login is refused before any password is hashed.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "downloads.backends.ModelBackend"]

# Login throttling (django-axes; README, Security): failures counted in the database, so every
# worker and host sees them, separately per username and per client address (the address the
# download log records); past the limit, a 429 page until the cool-off has passed or an admin
# deletes the lockout ("Access attempts" in the admin).
AXES_FAILURE_LIMIT = env_int("DOWNLOADS_LOGIN_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("DOWNLOADS_LOGIN_COOLOFF_MINUTES", 15))
# Per username and per address for a login; per address for an API token, whose failures count
# with the address's failed logins (downloads/tokenthrottle.py).
AXES_LOCKOUT_PARAMETERS = "downloads.tokenthrottle.lockout_parameters"
AXES_CLIENT_IP_CALLABLE = "downloads.clientip.client_ip"
AXES_LOCKOUT_CALLABLE = "downloads.lockout.lockout_response"
# The cool-off runs from the failure that locked, not from the latest refused try: someone who
# keeps trying a victim's name cannot keep them out for longer than that.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# Not reset by a success: axes would delete every attempt from the same address too, so anyone
# with an account could wipe their own count by logging in between guesses.
AXES_RESET_ON_SUCCESS = False

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "downloads:file-list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("DJANGO_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# Public assets: collected into STATIC_ROOT, served by WhiteNoise with hashed names.
STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]

# Private files. MEDIA_URL is deliberately not routed anywhere: bytes leave only through the
# permission-checked download view.
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "media")))
MEDIA_URL = "/media/"

STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT), "base_url": None},
    },
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Where the private bytes live: "local" (MEDIA_ROOT) or "s3", any S3-compatible bucket. Naming a
# bucket is enough to choose S3. Credentials come from boto3's usual chain: AWS_ACCESS_KEY_ID and
# AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), a profile, or the instance's role.
AWS_STORAGE_BUCKET_NAME = env_str("AWS_STORAGE_BUCKET_NAME")
DOWNLOADS_STORAGE = env_str("DOWNLOADS_STORAGE", "s3" if AWS_STORAGE_BUCKET_NAME else "local")
if DOWNLOADS_STORAGE == "s3":
    # Every call to the bucket has a deadline: a refused or silent endpoint answers 503 within
    # about attempts x (connect + read) seconds, never holding a thread for good. Setting
    # client_config replaces django-storages' own Config, so addressing and signature are here.
    _s3_client_config = BotoConfig(
        s3={"addressing_style": env_str("AWS_S3_ADDRESSING_STYLE") or None},
        signature_version="s3v4",
        connect_timeout=env_int("AWS_S3_CONNECT_TIMEOUT", 3),
        read_timeout=env_int("AWS_S3_READ_TIMEOUT", 10),
        retries={"mode": "standard", "total_max_attempts": env_int("AWS_S3_MAX_ATTEMPTS", 2)},
        # The download path shares one client per process (downloads/storage.py), and a
        # download streamed from the bucket holds a connection until it ends.
        max_pool_connections=env_int("AWS_S3_MAX_POOL_CONNECTIONS", 64),
    )
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": env_str("AWS_S3_ENDPOINT_URL") or None,
            "region_name": env_str("AWS_S3_REGION_NAME") or None,
            # Left unset, django-storages 1.14 with current boto3 presigns with SigV2.
            "signature_version": "s3v4",
            # "path" or "virtual"; unset lets botocore choose.
            "addressing_style": env_str("AWS_S3_ADDRESSING_STYLE") or None,
            # Seconds a presigned URL stays valid: s3 mode's redirects, nginx's fetches.
            "querystring_expire": env_int("AWS_QUERYSTRING_EXPIRE", 300),
            # Objects get the bucket's default ACL (private), never a public one.
            "default_acl": None,
            "client_config": _s3_client_config,
        },
    }
elif DOWNLOADS_STORAGE != "local":
    raise ImproperlyConfigured(f"DOWNLOADS_STORAGE={DOWNLOADS_STORAGE!r} is not local or s3.")

# Uploads larger than this are streamed to a temporary file instead of memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
# Uploads spooled to a full disk become a form error (downloads/uploads.py), not a 500.
FILE_UPLOAD_HANDLERS = [
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "downloads.uploads.TemporaryFileUploadHandler",
]
DOWNLOADS_MAX_UPLOAD_BYTES = env_int("DOWNLOADS_MAX_UPLOAD_BYTES", DEFAULTS.max_upload_bytes)
# Any other request body (a login, a zip of 1,000 ticked files: ~43 KB) is refused past this with
# a 413, before it is read (downloads/bodylimit.py).
DOWNLOADS_MAX_REQUEST_BODY_BYTES = env_int(
    "DOWNLOADS_MAX_REQUEST_BODY_BYTES", DEFAULTS.max_request_body_bytes
)
# Uploads by users from My files: the largest file (nginx's limit on that location too), and the
# most bytes one user may own in all (0: no quota).
DOWNLOADS_USER_UPLOAD_MAX_BYTES = env_int(
    "DOWNLOADS_USER_UPLOAD_MAX_BYTES", DEFAULTS.user_upload_max_bytes
)
DOWNLOADS_USER_QUOTA_BYTES = env_int("DOWNLOADS_USER_QUOTA_BYTES", DEFAULTS.user_quota_bytes)

# How bytes leave: "django" (this process sends them), "nginx" (X-Accel-Redirect), "s3".
DOWNLOADS_DELIVERY = env_str("DOWNLOADS_DELIVERY", DEFAULTS.delivery)
# nginx mode: the prefix of the internal locations in deploy/nginx.conf.template.
DOWNLOADS_NGINX_PREFIX = env_str("DOWNLOADS_NGINX_PREFIX", DEFAULTS.nginx_prefix)
# nginx mode: bytes per second nginx sends each download at (X-Accel-Limit-Rate); 0: no limit.
DOWNLOADS_NGINX_RATE_LIMIT = env_int("DOWNLOADS_NGINX_RATE_LIMIT", DEFAULTS.nginx_rate_limit)
# s3 and nginx-over-S3 modes: a HEAD to the bucket before handing a download over, so a missing
# object gets the app's clear page (and is logged and flagged) instead of the bucket's 404.
DOWNLOADS_S3_CHECK_OBJECT = env_bool("DOWNLOADS_S3_CHECK_OBJECT", default=DEFAULTS.s3_check_object)
# More range specs than this in one Range header: the whole file is sent instead (200).
DOWNLOADS_MAX_RANGES = env_int("DOWNLOADS_MAX_RANGES", DEFAULTS.max_ranges)
DOWNLOADS_PAGE_SIZE = env_int("DOWNLOADS_PAGE_SIZE", DEFAULTS.page_size)
# How many reverse proxies in front append to X-Forwarded-For (0: trust only REMOTE_ADDR).
DOWNLOADS_TRUSTED_PROXIES = env_int("DOWNLOADS_TRUSTED_PROXIES", DEFAULTS.trusted_proxies)
# Zips of many files (downloads/archive.py): at most this many files and stored bytes per zip.
DOWNLOADS_ZIP_MAX_FILES = env_int("DOWNLOADS_ZIP_MAX_FILES", DEFAULTS.zip_max_files)
# A zip of the most files allowed is one form field per file, plus the CSRF token: Django's
# default cap (1,000 fields in all) would refuse it with a bare 400 before the view could answer.
DATA_UPLOAD_MAX_NUMBER_FIELDS = max(1000, DOWNLOADS_ZIP_MAX_FILES + 100)
DOWNLOADS_ZIP_MAX_BYTES = env_int("DOWNLOADS_ZIP_MAX_BYTES", DEFAULTS.zip_max_bytes)
# Compressible members (text, documents) are deflated while their total stays at most this;
# past it, or at 0, every member is stored and the zip gets an exact Content-Length.
DOWNLOADS_ZIP_DEFLATE_MAX_BYTES = env_int(
    "DOWNLOADS_ZIP_DEFLATE_MAX_BYTES", DEFAULTS.zip_deflate_max_bytes
)
# The download log (downloads/logwriter.py): how long a request may wait to hand its row to the
# writer (then the row is logged at ERROR instead), how long a batch is retried while the
# database is unavailable, and where each process's writer reports its backlog.
DOWNLOADS_LOG_SUBMIT_TIMEOUT_MS = env_int(
    "DOWNLOADS_LOG_SUBMIT_TIMEOUT_MS", DEFAULTS.log_submit_timeout_ms
)
DOWNLOADS_LOG_RETRY_SECONDS = env_int("DOWNLOADS_LOG_RETRY_SECONDS", DEFAULTS.log_retry_seconds)
DOWNLOADS_LOG_STATUS_DIR = env_str("DOWNLOADS_LOG_STATUS_DIR", DEFAULTS.log_status_dir)
# Retention (`manage.py prune`): download log rows older than this many days are archived to
# storage (log-archive/, never served) and deleted; 0 keeps every row. Grants that expired more
# than DOWNLOADS_GRANT_GRACE_DAYS ago are removed, API tokens that expired or were revoked more
# than DOWNLOADS_TOKEN_GRACE_DAYS ago likewise.
DOWNLOADS_LOG_RETENTION_DAYS = env_int("DOWNLOADS_LOG_RETENTION_DAYS", DEFAULTS.log_retention_days)
DOWNLOADS_GRANT_GRACE_DAYS = env_int("DOWNLOADS_GRANT_GRACE_DAYS", DEFAULTS.grant_grace_days)
DOWNLOADS_TOKEN_GRACE_DAYS = env_int("DOWNLOADS_TOKEN_GRACE_DAYS", DEFAULTS.token_grace_days)

# Share links (README, Share links): expiry, resuming, prune's grace, lockout for guessing.
DOWNLOADS_SHARE_LINK_DEFAULT_DAYS = env_int(
    "DOWNLOADS_SHARE_LINK_DEFAULT_DAYS", DEFAULTS.share_link_default_days
)
DOWNLOADS_SHARE_LINK_MAX_DAYS = env_int(
    "DOWNLOADS_SHARE_LINK_MAX_DAYS", DEFAULTS.share_link_max_days
)
DOWNLOADS_SHARE_LINK_RESUME_HOURS = env_int(
    "DOWNLOADS_SHARE_LINK_RESUME_HOURS", DEFAULTS.share_link_resume_hours
)
DOWNLOADS_SHARE_LINK_GRACE_DAYS = env_int(
    "DOWNLOADS_SHARE_LINK_GRACE_DAYS", DEFAULTS.share_link_grace_days
)
DOWNLOADS_SHARE_LINK_FAILURE_LIMIT = env_int(
    "DOWNLOADS_SHARE_LINK_FAILURE_LIMIT", DEFAULTS.share_link_failure_limit
)
DOWNLOADS_SHARE_LINK_COOLOFF_MINUTES = env_int(
    "DOWNLOADS_SHARE_LINK_COOLOFF_MINUTES", DEFAULTS.share_link_cooloff_minutes
)

# Signed media URLs (README, Signed media URLs): their lifetime; CloudFront in s3 mode (optional).
DOWNLOADS_SIGNED_MEDIA_SECONDS = env_int(
    "DOWNLOADS_SIGNED_MEDIA_SECONDS", DEFAULTS.signed_media_seconds
)
DOWNLOADS_CLOUDFRONT_URL = env_str("DOWNLOADS_CLOUDFRONT_URL", DEFAULTS.cloudfront_url)
DOWNLOADS_CLOUDFRONT_KEY_ID = env_str("DOWNLOADS_CLOUDFRONT_KEY_ID", DEFAULTS.cloudfront_key_id)
DOWNLOADS_CLOUDFRONT_PRIVATE_KEY_FILE = env_str(
    "DOWNLOADS_CLOUDFRONT_PRIVATE_KEY_FILE", DEFAULTS.cloudfront_private_key_file
)

SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", default=False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
if env_bool("DJANGO_BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# HTTPS only, once TLS is in front (docs/deploy.md): plain-HTTP requests are redirected to https
# and browsers told to use nothing else (HSTS). All off by default: `make run`, the tests and the
# benchmarks speak plain HTTP on loopback. Behind a TLS-terminating proxy the redirect needs
# DJANGO_BEHIND_TLS_PROXY=1, or every request looks like plain HTTP (downloads.W030 says so).
SECURE_SSL_REDIRECT = env_bool("DJANGO_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("DJANGO_LOG_LEVEL", "INFO")},
}
