"""The benchmark's peers (bench/peers/) answer what `make bench` times: started as the bench
starts them (gunicorn with deploy/gunicorn.conf.py on bench.peers.settings, behind nginx from
the rendered template), each peer gives a granted user the file's exact bytes with a 200, the
X-Accel peers answer a range, and each refuses a user without a grant and an anonymous one. A
peer row can then measure neither an error page nor an open door."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from django.contrib.auth.models import Group

from bench.rows import PEERS
from bench.servers import PEERS_SETTINGS
from harness.gunicorn import Gunicorn
from harness.login import login
from harness.nginx import Nginx
from tests.servers import make_live_user, server_env
from tests.stored import store_file

pytestmark = pytest.mark.integration

PASSWORD = "peers-password-1"
# "Answered, not hung", on a machine busy with other test runs.
TIMEOUT = 30


@pytest.fixture(scope="module")
def peers(
    django_db_setup: None,
    django_db_blocker: object,
    live_media: Path,
    live_static: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Nginx, Gunicorn]]:
    """nginx, and the peers' gunicorn behind it."""
    env = server_env(
        live_media, live_static, DJANGO_SETTINGS_MODULE=PEERS_SETTINGS, GUNICORN_WORKERS="1"
    )
    gunicorn = Gunicorn(env=env).start(tmp_path_factory.mktemp("peers") / "gunicorn.log")
    try:
        nginx = Nginx(
            upstream_port=gunicorn.port,
            media_root=live_media,
            static_root=live_static,
            run_dir=tmp_path_factory.mktemp("nginx-peers"),
        ).start()
        yield nginx, gunicorn
        nginx.stop()
    finally:
        gunicorn.stop()


def test_each_peer_sends_the_granted_bytes_and_refuses_everyone_else(
    peers: tuple[Nginx, Gunicorn], transactional_db: None, live_server_media: Path
) -> None:
    nginx, gunicorn = peers
    owner = make_live_user("peers-owner", PASSWORD)
    reader = make_live_user("peers-reader", PASSWORD)
    make_live_user("peers-stranger", PASSWORD)
    readers = Group.objects.create(name="peers-readers")
    reader.groups.add(readers)
    data = os.urandom(1024)
    stored = store_file(owner, "one.bin", data, share_with=readers)

    as_reader = login(nginx.url, "peers-reader", PASSWORD)
    as_stranger = login(nginx.url, "peers-stranger", PASSWORD)
    for key, part in PEERS.items():
        url = f"{nginx.url}/peers/{part}/{stored.pk}"
        answer = as_reader.get(url, timeout=TIMEOUT)
        assert (answer.status_code, answer.content) == (200, data), key
        assert "attachment" in answer.headers["Content-Disposition"], key
        if key != "peer-handwritten":  # FileResponse ignores Range (the bench shows it)
            # The bytes come from nginx: the view only said where they are (its headers read,
            # its body not: sendfile2 announces the file's length and sends nothing).
            with as_reader.get(
                f"{gunicorn.url}/peers/{part}/{stored.pk}", stream=True, timeout=TIMEOUT
            ) as behind:
                accel = behind.headers.get("X-Accel-Redirect", "")
            assert accel.startswith("/_protected/ranges/"), key
            ranged = as_reader.get(url, headers={"Range": "bytes=100-199"}, timeout=TIMEOUT)
            assert (ranged.status_code, ranged.content) == (206, data[100:200]), key
        assert as_stranger.get(url, timeout=TIMEOUT).status_code == 404, key
        anonymous = requests.get(url, allow_redirects=False, timeout=TIMEOUT)
        assert anonymous.status_code == 302, key
        assert "/accounts/login/" in anonymous.headers["Location"], key
