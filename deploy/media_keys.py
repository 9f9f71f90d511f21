"""The file of media keys nginx checks signed media URLs with (delivery mode "nginx").

The keys are downloads.signedmedia.media_keys(): derived from SECRET_KEY (the one URLs are
signed with, first) and SECRET_KEY_FALLBACKS, never the secret key itself. Anyone holding them
can sign a URL for any stored file, so the file is written readable by its owner only (0600):
the rendered nginx.conf includes it, and nginx's master, which reads its configuration as root
at start and at every reload, is the only reader. nginx's workers get the keys from the master.
"""

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

DEFAULT_PATH = Path("/etc/protected-downloads/nginx-media-keys.conf")
MODE = 0o600


def text(keys: Sequence[bytes]) -> str:
    """The nginx directive that gives deploy/signedmedia.js the keys, hex, current first."""
    hexes = " ".join(key.hex() for key in keys)
    return (
        "# Written by `python -m deploy.render_nginx` (deploy/media_keys.py): the signed media\n"
        "# keys, derived from DJANGO_SECRET_KEY and DJANGO_SECRET_KEY_FALLBACKS. They sign URLs\n"
        "# to any stored file: keep this file readable by nginx's master (root) only.\n"
        f'js_var $signed_media_keys "{hexes}";\n'
    )


def write(path: Path, keys: Sequence[bytes] | None = None) -> None:
    """Write the keys (default: the app's, from its settings) to `path`, mode 0600 from the
    first byte, replacing any older file at once (nginx never reads half of one)."""
    if keys is None:
        from downloads.signedmedia import media_keys

        keys = media_keys()
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        # mkstemp creates it 0600 already; said again, as this is the point.
        os.fchmod(descriptor, MODE)
        with os.fdopen(descriptor, "w") as stream:
            stream.write(text(keys))
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
