"""deploy/nginx.conf.template: how it is rendered, and what the rendered file does in a real
nginx besides downloads (static files, the proxy, limits)."""

import gzip
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import brotli
import pytest
import requests

from deploy.render_nginx import (
    BROTLI_STATIC_MODULE,
    MULTIPART_ALLOWANCE,
    NginxConfig,
    from_settings,
    render,
    system_resolver,
)
from harness.nginx import NGINX
from harness.process import free_port

ROOT = Path(__file__).resolve().parent.parent


def test_the_upload_limit_and_paths_come_from_the_settings(settings, tmp_path):
    settings.DOWNLOADS_MAX_UPLOAD_BYTES = 5 * 1024**2
    settings.DOWNLOADS_NGINX_PREFIX = "/_bytes/"
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STATIC_ROOT = tmp_path / "static"
    text = render(from_settings(listen="8080", upstream="127.0.0.1:8000", run_dir=tmp_path))
    assert f"client_max_body_size {5 * 1024**2 + MULTIPART_ALLOWANCE};" in text
    assert "location /_bytes/file/ {" in text
    assert "location /_bytes/ranges/ {" in text
    assert "location = /_bytes/s3 {" in text
    assert f"alias {tmp_path / 'media'}/;" in text
    assert f"alias {tmp_path / 'static'}/;" in text
    assert "location /static/ {" in text
    assert "${" not in text


def test_every_internal_location_is_internal(settings, tmp_path):
    text = render(from_settings(listen="80", upstream="127.0.0.1:8000", run_dir=tmp_path))
    blocks = text.split("location ")
    internal = [block for block in blocks if block.startswith(("/_protected/", "= /_protected/"))]
    assert len(internal) == 3
    assert all("internal;" in block.split("}")[0] for block in internal)


@pytest.fixture
def config(tmp_path) -> NginxConfig:
    """A plain configuration with every path in one temporary directory."""
    return NginxConfig(
        listen="80",
        upstream="127.0.0.1:8000",
        static_root=tmp_path,
        media_root=tmp_path,
        run_dir=tmp_path,
        resolver="127.0.0.1",
    )


@pytest.mark.parametrize(
    "field", ["listen", "upstream", "server_name", "resolver", "user", "access_log"]
)
def test_a_value_that_could_inject_directives_is_refused(config, field):
    bad = NginxConfig(**{**config.__dict__, field: "x; include /etc/passwd"})
    with pytest.raises(ValueError, match="one plain token"):
        render(bad)


def test_an_unknown_placeholder_is_an_error(config):
    with pytest.raises(ValueError, match="MISSPELT"):
        render(config, template="listen ${MISSPELT};")


@pytest.mark.parametrize(
    ("text", "resolver"),
    [
        ("# comment\nsearch example.net\nnameserver 10.0.0.2\nnameserver 10.0.0.3\n", "10.0.0.2"),
        ("nameserver fd00::53\n", "[fd00::53]"),
        ("", "127.0.0.1"),
    ],
)
def test_the_resolver_is_the_hosts_first_name_server(tmp_path, text, resolver):
    resolv_conf = tmp_path / "resolv.conf"
    resolv_conf.write_text(text)
    assert system_resolver(resolv_conf) == resolver


def test_brotli_is_rendered_only_with_its_module(config, tmp_path):
    module = tmp_path / "ngx_http_brotli_static_module.so"
    with_module = render(NginxConfig(**{**config.__dict__, "brotli_static_module": module}))
    assert f"\nload_module {module};\n" in with_module
    assert "\n            brotli_static on;\n" in with_module
    assert with_module.index("load_module") < with_module.index("events {")
    without = render(NginxConfig(**{**config.__dict__, "brotli_static_module": None}))
    assert "load_module" not in without
    assert "brotli_static" not in without
    assert "gzip_static on;" in without


def test_the_brotli_module_is_found_where_debian_installs_it(tmp_path):
    from deploy.render_nginx import installed_module

    # The package's own file list (dpkg), so a move in a later Debian release shows here.
    files = subprocess.run(
        ["dpkg-query", "-L", "libnginx-mod-http-brotli-static"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert str(BROTLI_STATIC_MODULE) in files
    assert installed_module(tmp_path / "absent.so") is None
    present = tmp_path / "present.so"
    present.write_bytes(b"")
    assert installed_module(present) == present


def test_an_unknown_optional_feature_is_an_error(config):
    with pytest.raises(ValueError, match="#if-gzip-magic"):
        render(config, template="#if-gzip-magic gzip on;\n")


def test_the_command_line_renders_from_the_environment(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "MEDIA_ROOT": str(tmp_path / "private"),
        "STATIC_ROOT": str(tmp_path / "public"),
        "DOWNLOADS_MAX_UPLOAD_BYTES": "1000",
    }
    env.pop("DJANGO_SECRET_KEY", None)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "deploy.render_nginx",
            "--listen",
            "127.0.0.1:8081",
            "--run-dir",
            str(tmp_path / "run"),
            "--resolver",
            "127.0.0.53",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    text = result.stdout
    assert "listen 127.0.0.1:8081 reuseport;" in text
    assert f"alias {tmp_path / 'private'}/;" in text
    assert f"alias {tmp_path / 'public'}/;" in text
    assert f"client_max_body_size {1000 + MULTIPART_ALLOWANCE};" in text
    assert f"pid {tmp_path / 'run'}/nginx.pid;" in text
    assert "resolver 127.0.0.53 valid=60s ipv6=off;" in text


def test_nginx_accepts_the_rendered_file(tmp_path):
    config = from_settings(
        listen=f"127.0.0.1:{free_port()}",
        upstream="127.0.0.1:8000",
        run_dir=tmp_path,
        user="root" if os.getuid() == 0 else "nobody",
        access_log=str(tmp_path / "access.log"),
        error_log=str(tmp_path / "error.log"),
    )
    path = tmp_path / "nginx.conf"
    path.write_text(render(config))
    result = subprocess.run(
        [str(NGINX), "-t", "-c", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr


def test_nginx_lets_idle_upstream_connections_go_before_gunicorn_does(settings, tmp_path):
    from tests.test_gunicorn_config import load

    text = render(from_settings(listen="8080", upstream="127.0.0.1:8000", run_dir=tmp_path))
    upstream = re.search(r"upstream protected_downloads_app \{(.*?)\n    \}", text, re.S)
    assert upstream is not None
    idle = re.search(r"^\s*keepalive_timeout (\d+)s;", upstream[1], re.M)
    pool = re.search(r"^\s*keepalive (\d+);", upstream[1], re.M)
    assert idle is not None
    assert pool is not None
    # Else nginx may send a request on a connection gunicorn is closing as idle (a 502 for a
    # POST, which nginx does not retry).
    assert int(idle[1]) < load().keepalive
    # A pool as large as the requests in flight under load, so they do not reconnect each time.
    assert int(pool[1]) >= 64


# --- the rendered file in a real nginx ---------------------------------------------------------


@pytest.fixture(scope="module")
def stack(live_stack):
    return live_stack("django")


@pytest.fixture(scope="module")
def manifest(live_static: Path) -> dict[str, str]:
    return json.loads((live_static / "staticfiles.json").read_text())["paths"]


@pytest.mark.integration
def test_hashed_static_files_are_cached_for_good(stack, live_static, manifest):
    hashed = manifest["admin/css/base.css"]
    response = requests.get(f"{stack.url}/static/{hashed}", timeout=10)
    assert response.status_code == 200
    assert response.content == (live_static / hashed).read_bytes()
    # nginx's header, not WhiteNoise's ("max-age=315360000, public, immutable").
    assert response.headers["Cache-Control"] == "public, max-age=315360000, immutable"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Type"] == "text/css"


@pytest.mark.integration
def test_unhashed_static_names_are_revalidated(stack):
    response = requests.get(f"{stack.url}/static/admin/css/base.css", timeout=10)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=60"


@pytest.mark.integration
def test_static_files_go_out_precompressed(stack, live_static, manifest):
    hashed = manifest["admin/css/base.css"]
    response = requests.get(
        f"{stack.url}/static/{hashed}",
        headers={"Accept-Encoding": "gzip"},
        stream=True,
        timeout=10,
    )
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.headers["Vary"] == "Accept-Encoding"
    raw = response.raw.read()
    assert raw == (live_static / f"{hashed}.gz").read_bytes()
    assert gzip.decompress(raw) == (live_static / hashed).read_bytes()


@pytest.mark.integration
@pytest.mark.parametrize("accept", ["br", "gzip, deflate, br, zstd"])
def test_static_files_go_out_as_brotli_to_clients_that_take_it(
    stack, live_static, manifest, accept
):
    # Not a skip: scripts/system-deps.sh (run by `make test`) installs the module.
    assert stack.nginx.config().brotli_static_module, (
        "libnginx-mod-http-brotli-static is not installed; scripts/system-deps.sh installs it"
    )
    hashed = manifest["admin/css/base.css"]
    response = requests.get(
        f"{stack.url}/static/{hashed}",
        headers={"Accept-Encoding": accept},
        stream=True,
        timeout=10,
    )
    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == "br"
    assert response.headers["Vary"] == "Accept-Encoding"
    assert response.headers["Cache-Control"] == "public, max-age=315360000, immutable"
    assert response.headers["Content-Type"] == "text/css"
    raw = response.raw.read()
    assert raw == (live_static / f"{hashed}.br").read_bytes()
    assert brotli.decompress(raw) == (live_static / hashed).read_bytes()


@pytest.mark.integration
def test_static_files_go_out_whole_to_clients_that_take_neither(stack, live_static, manifest):
    hashed = manifest["admin/css/base.css"]
    response = requests.get(
        f"{stack.url}/static/{hashed}",
        headers={"Accept-Encoding": "identity"},
        stream=True,
        timeout=10,
    )
    assert "Content-Encoding" not in response.headers
    assert response.raw.read() == (live_static / hashed).read_bytes()


@pytest.mark.integration
def test_a_missing_static_file_is_404(stack):
    assert requests.get(f"{stack.url}/static/nothing-here.css", timeout=10).status_code == 404


@pytest.mark.integration
def test_media_is_not_routed(stack, live_media):
    (live_media / "loose.txt").write_bytes(b"private")
    for path in ("/media/loose.txt", "/loose.txt", "/static/../media/loose.txt"):
        response = requests.get(f"{stack.url}{path}", timeout=10)
        assert response.status_code == 404, path
        assert b"private" not in response.content


@pytest.mark.integration
def test_the_app_is_proxied_and_nginx_hides_its_version(stack):
    response = requests.get(f"{stack.url}/accounts/login/", timeout=10)
    assert response.status_code == 200
    assert b'name="csrfmiddlewaretoken"' in response.content
    assert response.headers["Server"] == "nginx"


@pytest.mark.integration
def test_a_body_over_the_limit_is_refused_by_nginx(stack, settings):
    limit = settings.DOWNLOADS_MAX_UPLOAD_BYTES + MULTIPART_ALLOWANCE
    response = requests.post(
        f"{stack.url}/admin/downloads/storedfile/add/",
        data=b"",
        headers={"Content-Length": str(limit + 1)},
        timeout=10,
    )
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("listen", "reuse_port", "line"),
    [
        ("8080", True, "listen 8080 reuseport;"),
        ("127.0.0.1:8080", True, "listen 127.0.0.1:8080 reuseport;"),
        ("8080", False, "listen 8080;"),
        ("unix:/run/pd/nginx.sock", True, "listen unix:/run/pd/nginx.sock;"),
    ],
)
def test_each_worker_listens_on_its_own_socket_unless_told_not_to(
    tmp_path, listen, reuse_port, line
):
    text = render(
        from_settings(
            listen=listen, upstream="127.0.0.1:8000", run_dir=tmp_path, reuse_port=reuse_port
        )
    )
    listens = [
        entry.strip()
        for entry in text.splitlines()
        if entry.strip().startswith("listen ") and "signed-media.sock" not in entry
    ]
    assert listens == [line]


def test_the_command_line_can_share_one_listening_socket(tmp_path):
    rendered = subprocess.run(
        [sys.executable, "-m", "deploy.render_nginx", "--listen", "8080", "--no-reuseport"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"},
    ).stdout
    assert "listen 8080;" in rendered
    assert "reuseport" not in rendered.replace("--no-reuseport", "")
