"""The rows of the table: one way each of getting the same bytes to a logged-in user."""

from dataclasses import dataclass, field

from bench.browse import Gallery
from bench.files import GALLERY_IMAGE_SIZE, GALLERY_QUERY, GALLERY_STATIC_PAGE, BenchFiles
from harness.nginx import Nginx
from harness.process import Server

# The reference rows the ratios are taken to.
DIRECT = "nginx-direct"
WHITENOISE = "whitenoise"
# What a user would pick instead (bench/peers/), each behind the same nginx: row key -> URL part.
PEERS = {
    "peer-handwritten": "handwritten",
    "peer-sendfile2": "sendfile2",
    "peer-downloadview": "downloadview",
}
# The signed media URL rows: served only by a build whose /m/ answers (issue 11).
SIGNED_NGINX = "signed-nginx"
SIGNED_DJANGO = "signed-django"


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
    # The gallery this row's way of serving makes (bench/browse.py); None: not measured.
    gallery: Gallery | None = None
    # Whether the row answers a Range with 206: False, its range column shows the status only.
    ranges: bool = True
    # Whether the seek column is measured (a range-answering row whose ranges are cheap).
    seeks: bool = True
    # A signed-URL row: reported "not available" when its /m/ URLs answer 404.
    signed: bool = False


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
    peers: Server  # gunicorn with bench.peers.settings (the peers' views and the app's pages)
    nginx_peers: Server  # nginx (deploy template) in front of `peers`


@dataclass(frozen=True)
class SignedPaths:
    """Signed media URL paths (bench/signed.py): size label -> path, and the gallery's."""

    by_size: dict[str, str]
    gallery: list[str]


def make_rows(
    stacks: Stacks, files: BenchFiles, presigned: dict[str, str], signed: SignedPaths
) -> list[Row]:
    sizes = files.by_size

    def downloads(base: str) -> dict[str, str]:
        return {label: base + file.download_path for label, file in sizes.items()}

    def gallery(base: str, image_paths: list[str], page: str = f"/?q={GALLERY_QUERY}") -> Gallery:
        """The list page searched down to the gallery's images, then the images."""
        return Gallery(
            page=base + page,
            images=tuple(base + path for path in image_paths),
            image_bytes=GALLERY_IMAGE_SIZE,
        )

    checked_images = [image.download_path for image in files.gallery]
    direct = stacks.nginx_django.direct_url
    return [
        Row(
            DIRECT,
            "nginx direct (no check)",
            {label: direct + file.direct_path for label, file in sizes.items()},
            cost=(stacks.nginx_django,),
            # Public: a static page and the same images as static files, through nginx.
            gallery=gallery(
                stacks.nginx_django.url,
                [image.gallery_static_path for image in files.gallery],
                page=GALLERY_STATIC_PAGE,
            ),
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
            gallery=gallery(stacks.nginx_django.url, checked_images),
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
            gallery=gallery(stacks.nginx_nginx.url, checked_images),
        ),
        Row(
            "s3-redirect",
            "s3 mode: the redirect",
            downloads(stacks.s3_mode.url),
            cost=(stacks.s3_mode,),
            app=stacks.s3_mode,
            seeks=False,
        ),
        Row(
            "s3-fetch",
            "s3 mode: fetch from moto",
            presigned,
            cost=(stacks.moto,),
            cookie=False,
            # moto reads the whole object for a range (bench/measure.py, mid_range).
            seeks=False,
        ),
        *(
            Row(
                key,
                f"peer: {label}",
                {
                    size: f"{stacks.nginx_peers.url}/peers/{PEERS[key]}/{file.id}"
                    for size, file in sizes.items()
                },
                cost=(stacks.nginx_peers, stacks.peers),
                app=stacks.peers,
                gallery=gallery(
                    stacks.nginx_peers.url,
                    [f"/peers/{PEERS[key]}/{image.id}" for image in files.gallery],
                ),
                # Django's FileResponse sends the whole file whatever the Range.
                ranges=key != "peer-handwritten",
                seeks=key != "peer-handwritten",
            )
            for key, label in (
                ("peer-handwritten", "hand-written view (FileResponse)"),
                ("peer-sendfile2", "django-sendfile2 (X-Accel)"),
                ("peer-downloadview", "django-downloadview (X-Accel)"),
            )
        ),
        Row(
            SIGNED_NGINX,
            "nginx mode, signed URL",
            {size: stacks.nginx_nginx.url + path for size, path in signed.by_size.items()},
            cost=(stacks.nginx_nginx, stacks.nginx_mode),
            app=stacks.nginx_mode,
            gallery=gallery(stacks.nginx_nginx.url, signed.gallery),
            signed=True,
        ),
        Row(
            SIGNED_DJANGO,
            "django mode, signed URL (nginx proxy)",
            {size: stacks.nginx_django.url + path for size, path in signed.by_size.items()},
            cost=(stacks.nginx_django, stacks.django),
            app=stacks.django,
            gallery=gallery(stacks.nginx_django.url, signed.gallery),
            signed=True,
        ),
    ]
