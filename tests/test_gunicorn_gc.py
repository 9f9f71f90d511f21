"""Each gunicorn worker leaves the loaded app's objects out of garbage collection
(deploy/worker.py, freeze_heap): a full collection stops the whole worker, and under load its
queue waits it out. `make soak` measures what it does to the slowest requests."""

import gc
import re
import urllib.request
from pathlib import Path

import pytest

from deploy.worker import Limits, freeze_heap
from harness.gunicorn import Gunicorn
from tests.servers import server_env

FROZE = re.compile(r"Froze (\d+) objects of the loaded app")
# Django and the app, loaded: some 80,000 objects.
LOADED_APP_AT_LEAST = 20_000
STARTUP_BOUND_S = 30.0  # seconds


@pytest.fixture
def unfrozen():
    yield
    gc.unfreeze()


def test_objects_alive_now_are_left_out_of_later_collections(unfrozen):
    loaded = [object.__new__(type("Loaded", (), {})) for _ in range(100)]
    assert all(gc.is_tracked(item) for item in loaded)

    frozen = freeze_heap()

    assert frozen >= len(loaded)
    tracked = {id(item) for item in gc.get_objects()}
    assert not any(id(item) in tracked for item in loaded)


def test_it_is_on_unless_turned_off(monkeypatch):
    monkeypatch.delenv("GUNICORN_GC_FREEZE", raising=False)
    assert Limits.from_environ().freeze_heap
    monkeypatch.setenv("GUNICORN_GC_FREEZE", "0")
    assert not Limits.from_environ().freeze_heap


def froze_counts(log: Path) -> list[int]:
    return [int(count) for count in FROZE.findall(log.read_text(errors="replace"))]


@pytest.mark.integration
@pytest.mark.parametrize("freeze", ["1", "0"])
def test_the_worker_freezes_the_loaded_app_before_it_serves(
    freeze: str,
    django_db_setup: None,
    live_media: Path,
    live_static: Path,
    tmp_path: Path,
):
    env = server_env(live_media, live_static, GUNICORN_WORKERS="1", GUNICORN_GC_FREEZE=freeze)
    log = tmp_path / "gunicorn.log"
    server = Gunicorn(env=env).start(log)
    try:
        url = f"http://127.0.0.1:{server.port}/accounts/login/"
        with urllib.request.urlopen(url, timeout=STARTUP_BOUND_S) as answer:
            assert answer.status == 200
        # The worker answered, so it had loaded the app and started serving.
        if freeze == "1":
            (count,) = froze_counts(log)
            assert count >= LOADED_APP_AT_LEAST
        else:
            assert froze_counts(log) == []
    finally:
        server.stop()
