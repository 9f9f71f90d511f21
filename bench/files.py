"""The files every row serves, the users who may have them, and their copies in each place.

One private file per size is written under MEDIA_ROOT and recorded as a StoredFile owned by one
user and granted to a group the benchmark's user belongs to, so every download goes through the
real access check. The same bytes are hard-linked into STATIC_ROOT (the WhiteNoise row, after
collectstatic so nothing compresses them) and uploaded to the S3 bucket under the same key (the
s3 row): every row serves identical bytes.
"""

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB
SIZES = {"1KiB": KIB, "1MiB": MIB, "1GiB": GIB}
ZIP_MEMBERS = 1000
ZIP_MEMBER_SIZE = 100 * KIB
# The search that picks exactly the zip's members in the file list.
ZIP_QUERY = "member-"
BLOCK = MIB
USERNAME = "bench-user"
PASSWORD = "bench-password-" + os.urandom(6).hex()
# Groups the user belongs to and grants on each file: the access check must not grow with them.
GROUPS = 5
STATIC_DIR = "bench"
# The gallery: private images the list page shows, fetched as a browser would (bench/browse.py),
# and the same bytes as public static files with a static page naming them (the reference).
GALLERY_IMAGES = 50
GALLERY_IMAGE_SIZE = 30 * KIB
GALLERY_QUERY = "gallery-"
GALLERY_STATIC_DIR = f"{STATIC_DIR}/gallery"
GALLERY_STATIC_PAGE = f"/static/{GALLERY_STATIC_DIR}/index.html"


@dataclass(frozen=True)
class BenchFile:
    id: str
    key: str  # the storage key under MEDIA_ROOT, the bucket key, the reference row's path
    size: int

    @property
    def download_path(self) -> str:
        return f"/files/{self.id}/download"

    @property
    def static_path(self) -> str:
        return f"/static/{STATIC_DIR}/{Path(self.key).name}"

    @property
    def direct_path(self) -> str:
        return f"/{self.key}"

    @property
    def gallery_static_path(self) -> str:
        return f"/static/{GALLERY_STATIC_DIR}/{Path(self.key).name}"


@dataclass(frozen=True)
class BenchFiles:
    by_size: dict[str, BenchFile]
    zip_ids: list[str]
    gallery: list[BenchFile]


def _blocks(size: int, pattern: bytes) -> Iterator[bytes]:
    """`size` bytes of `pattern` repeated: random data nothing can compress or dedupe cheaply."""
    whole, rest = divmod(size, len(pattern))
    for _ in range(whole):
        yield pattern
    if rest:
        yield pattern[:rest]


def _write(path: Path, size: int, pattern: bytes) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with path.open("wb") as handle:
        for block in _blocks(size, pattern):
            handle.write(block)
            digest.update(block)
    return digest.hexdigest()


def create(
    media_root: Path,
    static_root: Path,
    sizes: dict[str, int] = SIZES,
    zip_members: int = ZIP_MEMBERS,
    gallery_images: int = GALLERY_IMAGES,
) -> BenchFiles:
    """Users, group grants, the files and their rows (Django must be set up): one file per entry
    of `sizes`, `zip_members` files for the zip (and the list page's search), and
    `gallery_images` images for the gallery."""
    from django.contrib.auth.models import Group, User
    from django.utils import timezone

    from downloads.models import Grant, StoredFile

    owner = User.objects.create_user("bench-owner", password=None)
    user = User.objects.create_user(USERNAME, password=PASSWORD)
    groups = [Group.objects.create(name=f"bench-readers-{n}") for n in range(GROUPS)]
    user.groups.add(*groups)
    pattern = os.urandom(BLOCK)
    now = timezone.now().replace(microsecond=0)

    def stored(key: str, size: int, content_type: str = "application/octet-stream") -> Any:
        sha256 = _write(media_root / key, size, pattern)
        return StoredFile(
            owner=owner,
            name=Path(key).name,
            file=key,
            size=size,
            sha256=sha256,
            content_type=content_type,
            updated=now,
        )

    singles = {label: stored(f"files/bench/{label}.bin", size) for label, size in sizes.items()}
    members = [
        stored(f"files/bench/zip/member-{n:04}.bin", ZIP_MEMBER_SIZE) for n in range(zip_members)
    ]
    # Random bytes typed as JPEG: the list page shows them as images, and nothing decodes them.
    images = [
        stored(
            f"files/bench/gallery/{GALLERY_QUERY}{n:02}.jpg",
            GALLERY_IMAGE_SIZE,
            "image/jpeg",
        )
        for n in range(gallery_images)
    ]
    everything = [*singles.values(), *members, *images]
    StoredFile.objects.bulk_create(everything)
    Grant.objects.bulk_create(
        Grant(file=file, group=group) for file in everything for group in groups
    )

    static_dir = static_root / STATIC_DIR
    static_dir.mkdir(parents=True, exist_ok=True)
    for file in singles.values():
        # A hard link: the same bytes, no second GiB (MEDIA_ROOT and STATIC_ROOT share a disk).
        os.link(media_root / file.file.name, static_dir / Path(file.file.name).name)
    gallery_dir = static_root / GALLERY_STATIC_DIR
    gallery_dir.mkdir(parents=True, exist_ok=True)
    for image in images:
        os.link(media_root / image.file.name, gallery_dir / Path(image.file.name).name)
    tags = "".join(f'<img src="{Path(image.file.name).name}" alt="">\n' for image in images)
    (gallery_dir / "index.html").write_text(f"<!doctype html><title>Gallery</title>\n{tags}")
    return BenchFiles(
        by_size={
            label: BenchFile(id=str(file.pk), key=file.file.name, size=file.size)
            for label, file in singles.items()
        },
        zip_ids=[str(member.pk) for member in members],
        gallery=[
            BenchFile(id=str(image.pk), key=image.file.name, size=image.size) for image in images
        ],
    )


def upload_to_s3(client: Any, bucket: str, media_root: Path, files: BenchFiles) -> None:
    """The single files into the bucket under their storage keys (the s3 row's bytes)."""
    from boto3.s3.transfer import TransferConfig

    config = TransferConfig(multipart_chunksize=64 * MIB, max_concurrency=2)
    for file in files.by_size.values():
        client.upload_file(str(media_root / file.key), bucket, file.key, Config=config)
