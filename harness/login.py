"""Logging in through the login form over HTTP, as a browser does: the CSRF cookie and token
from the form's page, then the POST."""

import requests

LOGIN_PATH = "/accounts/login/"


class LoginFailed(RuntimeError):
    pass


# Seconds for each of the page and the POST: "answered, not hung" for a server that has just
# started (its first request imports and connects) on a machine busy with other test runs.
TIMEOUT = 30


def login_attempt(
    base_url: str, username: str, password: str, timeout: float = TIMEOUT
) -> tuple[requests.Session, requests.Response]:
    """Post the login form once; the session and the form's answer, whatever it was."""
    session = requests.Session()
    login_url = f"{base_url}{LOGIN_PATH}"
    session.get(login_url, timeout=timeout).raise_for_status()
    response = session.post(
        login_url,
        data={
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        headers={"Referer": login_url},
        allow_redirects=False,
        timeout=timeout,
    )
    return session, response


def login(
    base_url: str, username: str, password: str, timeout: float = TIMEOUT
) -> requests.Session:
    """A session logged in through the form (its cookies: `sessionid`, `csrftoken`)."""
    session, response = login_attempt(base_url, username, password, timeout=timeout)
    if response.status_code != 302 or not session.cookies.get("sessionid"):
        raise LoginFailed(f"login as {username!r} at {base_url} failed: {response.status_code}")
    return session
