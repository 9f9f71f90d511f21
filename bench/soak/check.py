"""Each kind of request in the mix, sent once before the soak: the answer must be the one mix.lua
counts it as, or the soak's accounting would count the wrong things."""

from typing import Any

import requests

from bench.soak import mix


def _get(url: str, headers: dict[str, str]) -> Any:
    return requests.get(url, headers=headers, allow_redirects=False, timeout=30)


def check(base_url: str, target: mix.Target, *, redirects_downloads: bool) -> None:
    session = {"Cookie": target.cookie}
    download_status, range_status = (302, 302) if redirects_downloads else (200, 206)
    expectations = [
        ("small", target.small_path, session, download_status),
        ("big", target.big_path, session, download_status),
        ("range", target.big_path, {**session, "Range": mix.RANGE}, range_status),
        ("not_modified", target.small_path, {**session, "If-None-Match": target.etag}, 304),
        ("missing", f"/files/{target.missing_ids[0]}/download", session, 404),
        ("list", f"/?q={mix.QUERIES[0]}", session, 200),
    ]
    for kind, path, headers, status in expectations:
        answer = _get(base_url + path, headers)
        if answer.status_code != status:
            raise RuntimeError(f"{kind}: {answer.status_code} from {path}, expected {status}")
        disposition = answer.headers.get("Content-Disposition", "")
        if kind in ("small", "big") and status == 200 and "attachment" not in disposition:
            raise RuntimeError(f"{kind}: no Content-Disposition: attachment")
        if kind == "list" and "Content-Disposition" in answer.headers:
            raise RuntimeError("the list page came with a Content-Disposition")
        if status == 302 and not answer.headers.get("Location", "").startswith("http"):
            raise RuntimeError(f"{kind}: redirected to {answer.headers.get('Location')!r}")
    login = requests.post(
        base_url + target.login_path,
        data={
            "username": target.username,
            "password": target.password,
            "csrfmiddlewaretoken": target.csrf_token,
        },
        cookies={"csrftoken": target.csrf_token},
        allow_redirects=False,
        timeout=30,
    )
    location = login.headers.get("Location")
    if login.status_code != 302 or location != target.login_redirect:
        raise RuntimeError(f"login: {login.status_code} to {location!r}")
