"""The rows of the table: one way each of getting the same bytes to a logged-in user."""

from dataclasses import dataclass, field

from bench.files import BenchFiles
from harness.nginx import Nginx
from harness.process import Server

# The reference rows the ratios are taken to.
DIRECT = "nginx-direct"
WHITENOISE = "whitenoise"


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    # "1KiB" / "1MiB" / "1GiB" -> the URL this row fetches that file at.
    urls: dict[str, str]
    # Whose CPU time the row's server cost adds up (every process that touches the request).
    cost: tuple[Server, ...]
    # The gunicorn whose workers' memory is watched; None where no Python process sends bytes.
    app: Server | None = None
    # Where the row's zip of many files is POSTed; None where zips do not apply.
    zip_url: str | None = None
    # Whether the request carries the user's session cookie (a bucket never gets it).
    cookie: bool = True
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Stacks:
    """The running servers the rows are made of."""

    nginx_django: Nginx  # nginx (deploy template) in front of `django`, with its direct server
    nginx_nginx: Server  # nginx (deploy template) in front of `nginx_mode`
    django: Server  # gunicorn, DOWNLOADS_DELIVERY=django
    nginx_mode: Server  # gunicorn, DOWNLOADS_DELIVERY=nginx
    s3_mode: Server  # gunicorn, DOWNLOADS_DELIVERY=s3, files in the bucket
    moto: Server  # the S3 endpoint
    asgi: Server  # uvicorn (project.asgi), DOWNLOADS_DELIVERY=django
    nginx_asgi: Server  # nginx (deploy template) in front of `asgi`


def make_rows(stacks: Stacks, files: BenchFiles, presigned: dict[str, str]) -> list[Row]:
    sizes = files.by_size

    def downloads(base: str) -> dict[str, str]:
        return {label: base + file.download_path for label, file in sizes.items()}

    direct = stacks.nginx_django.direct_url
    return [
        Row(
            DIRECT,
            "nginx direct (no check)",
            {label: direct + file.direct_path for label, file in sizes.items()},
            cost=(stacks.nginx_django,),
        ),
        Row(
            WHITENOISE,
            "WhiteNoise static (gunicorn)",
            {label: stacks.django.url + file.static_path for label, file in sizes.items()},
            cost=(stacks.django,),
            app=stacks.django,
        ),
        Row(
            "django-gunicorn",
            "django mode, gunicorn",
            downloads(stacks.django.url),
            cost=(stacks.django,),
            app=stacks.django,
            zip_url=stacks.django.url + "/files.zip",
        ),
        Row(
            "django-nginx",
            "django mode, nginx proxy",
            downloads(stacks.nginx_django.url),
            cost=(stacks.nginx_django, stacks.django),
            app=stacks.django,
            zip_url=stacks.nginx_django.url + "/files.zip",
        ),
        Row(
            "django-uvicorn",
            "django mode, uvicorn (ASGI)",
            downloads(stacks.asgi.url),
            cost=(stacks.asgi,),
            app=stacks.asgi,
            zip_url=stacks.asgi.url + "/files.zip",
        ),
        Row(
            "django-nginx-uvicorn",
            "django mode, nginx + uvicorn",
            downloads(stacks.nginx_asgi.url),
            cost=(stacks.nginx_asgi, stacks.asgi),
            app=stacks.asgi,
            zip_url=stacks.nginx_asgi.url + "/files.zip",
        ),
        Row(
            "nginx-mode",
            "nginx mode (X-Accel-Redirect)",
            downloads(stacks.nginx_nginx.url),
            cost=(stacks.nginx_nginx, stacks.nginx_mode),
            app=stacks.nginx_mode,
        ),
        Row(
            "s3-redirect",
            "s3 mode: the redirect",
            downloads(stacks.s3_mode.url),
            cost=(stacks.s3_mode,),
            app=stacks.s3_mode,
        ),
        Row(
            "s3-fetch",
            "s3 mode: fetch from moto",
            presigned,
            cost=(stacks.moto,),
            cookie=False,
        ),
    ]
