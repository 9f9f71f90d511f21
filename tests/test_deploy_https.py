"""HTTPS as docs/deploy.md deploys it: `check --deploy` is clean with exactly the documented
environment (read out of the document, so the two cannot drift), and through real nginx and
gunicorn the redirect to https ends once the TLS proxy says https, and nowhere else."""

import dataclasses
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from deploy.render_nginx import NginxConfig
from harness.gunicorn import Gunicorn
from harness.nginx import Nginx
from tests.servers import server_env

ROOT = Path(__file__).resolve().parent.parent
DEPLOY_DOC = ROOT / "docs" / "deploy.md"
# The block step 2 of docs/deploy.md writes to the environment file.
ENV_BLOCK = re.compile(r"^cat > /etc/protected-downloads/env <<EOF\n(.*?)^EOF$", re.M | re.S)
HSTS = "max-age=31536000; includeSubDomains; preload"
BALANCER = "$http_x_forwarded_proto"


def documented_environment() -> dict[str, str]:
    found = ENV_BLOCK.search(DEPLOY_DOC.read_text())
    assert found, "docs/deploy.md no longer writes /etc/protected-downloads/env in a block"
    # Expanded by the shell, as a deployer's would ($(...) generates the secret key).
    expanded = subprocess.run(
        ["bash", "-c", f"cat <<EOF\n{found[1]}EOF\n"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    env: dict[str, str] = {}
    for line in expanded.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, equals, value = line.partition("=")
        assert equals, f"not NAME=value: {line!r}"
        assert re.fullmatch(r"[A-Z][A-Z0-9_]*", name), f"not NAME=value: {line!r}"
        env[name] = value
    return env


def check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess:
    """`manage.py check --deploy` in a process whose environment is `env` and nothing else."""
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "project.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_documented_environment_passes_check_deploy():
    env = documented_environment()
    assert len(env["DJANGO_SECRET_KEY"]) >= 50  # the generated one, not an empty $(...)
    result = check_deploy(env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


@pytest.mark.parametrize(
    ("left_out", "warnings"),
    [
        ("DJANGO_HSTS_SECONDS", ["security.W004"]),
        ("DJANGO_SSL_REDIRECT", ["security.W008"]),
        ("DJANGO_SECURE_COOKIES", ["security.W012", "security.W016"]),
        ("DJANGO_BEHIND_TLS_PROXY", ["downloads.W030"]),
    ],
)
def test_each_documented_setting_is_what_silences_its_warning(left_out, warnings):
    env = documented_environment()
    del env[left_out]
    result = check_deploy(env)
    assert result.returncode != 0
    for warning in warnings:
        assert warning in result.stderr, result.stderr


def test_a_negative_hsts_age_stops_the_app(settings):
    settings.SECURE_HSTS_SECONDS = -1
    with pytest.raises(SystemCheckError, match=r"downloads\.E023"):
        call_command("check")


def test_the_shipped_defaults_never_redirect_or_send_hsts(client):
    # What make run, the tests and the benchmarks get: plain HTTP on loopback works.
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert "Strict-Transport-Security" not in response


@pytest.mark.parametrize(
    ("flag", "proto"), [([], "$scheme"), (["--behind-tls-proxy"], BALANCER)], ids=["default", "lb"]
)
def test_render_passes_the_scheme_nginx_should(flag, proto):
    rendered = subprocess.run(
        [sys.executable, "-m", "deploy.render_nginx", "--run-dir", "/tmp/x", *flag],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "project.settings"},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert re.findall(r"proxy_set_header X-Forwarded-Proto (\S+);", rendered) == [proto]


# --- through real nginx and gunicorn, with the documented HTTPS settings ----------------------


@dataclasses.dataclass
class NginxBehindBalancer(Nginx):
    """The rendered nginx as `render_nginx --behind-tls-proxy` makes it."""

    def config(self) -> NginxConfig:
        return dataclasses.replace(super().config(), forwarded_proto=BALANCER)


@pytest.fixture(scope="module")
def https_app(
    django_db_setup: None, live_media: Path, live_static: Path, tmp_path_factory
) -> Iterator[tuple[Nginx, Nginx]]:
    """gunicorn with the documented DJANGO_* settings; nginx behind a balancer and plain."""
    documented = {
        name: value
        for name, value in documented_environment().items()
        if name.startswith("DJANGO_") and name != "DJANGO_SECRET_KEY"
    }
    server = Gunicorn(env=server_env(live_media, live_static, GUNICORN_WORKERS="1", **documented))
    server.start(tmp_path_factory.mktemp("gunicorn-https") / "gunicorn.log")
    started: list[Nginx] = []
    try:
        for kind in (NginxBehindBalancer, Nginx):
            started.append(
                kind(
                    upstream_port=server.port,
                    media_root=live_media,
                    static_root=live_static,
                    run_dir=tmp_path_factory.mktemp(f"nginx-{kind.__name__}"),
                ).start()
            )
        yield started[0], started[1]
    finally:
        for nginx in started:
            nginx.stop()
        server.stop()


HOST = {"Host": "files.example.com"}


def get(nginx: Nginx, path: str, **headers: str) -> requests.Response:
    return requests.get(
        nginx.url + path, headers={**HOST, **headers}, allow_redirects=False, timeout=10
    )


def test_what_the_balancer_says_is_https_is_served_with_hsts(https_app):
    behind_balancer, _plain = https_app
    response = get(behind_balancer, "/accounts/login/", **{"X-Forwarded-Proto": "https"})
    assert response.status_code == 200
    assert response.headers["Strict-Transport-Security"] == HSTS
    assert "Secure" in response.headers["Set-Cookie"]  # the CSRF cookie


def test_plain_http_at_the_balancer_is_redirected_to_https(https_app):
    behind_balancer, _plain = https_app
    response = get(behind_balancer, "/files/?q=x", **{"X-Forwarded-Proto": "http"})
    assert response.status_code == 301
    assert response.headers["Location"] == "https://files.example.com/files/?q=x"
    assert "Strict-Transport-Security" not in response.headers


def test_the_default_rendering_does_not_take_a_client_s_word_for_https(https_app):
    _behind_balancer, plain = https_app
    # nginx answers on plain HTTP here: it replaces the header with its own $scheme.
    response = get(plain, "/accounts/login/", **{"X-Forwarded-Proto": "https"})
    assert response.status_code == 301
    assert response.headers["Location"] == "https://files.example.com/accounts/login/"
