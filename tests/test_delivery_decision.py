"""The one decision per download (delivery/decision.py) and what each mode says it sends
(delivery/sending.py): decided once, the same for every mode, never again in a fallback.

test_download_view.py and test_contract_live.py check the answers these values make; this file
checks the values themselves and who makes them how often.
"""

import dataclasses
from collections.abc import Iterator

import pytest
from django.http import FileResponse, StreamingHttpResponse
from django.urls import reverse

from downloads import delivery
from downloads.delivery import app, decision, deliver, get_mode, nginx, s3
from downloads.delivery.decision import Decision, decide
from downloads.delivery.headers import file_headers, validator_headers
from downloads.delivery.sending import Mover, Sending, TakenChunks
from downloads.models import DownloadLog, Outcome

pytestmark = pytest.mark.django_db

BODY = bytes(range(256)) * 40  # 10,240 bytes
SIZE = len(BODY)


@pytest.fixture
def stored(make_file):
    return make_file(BODY, name="report.pdf")


@pytest.fixture
def url(stored):
    return reverse("downloads:download", args=[stored.pk])


def decided(rf, stored, method="get", query="", **headers) -> Decision:
    request = getattr(rf, method)("/" + query, headers=headers)
    return decide(request, stored)


# --- the decision -----------------------------------------------------------------------------


def test_a_plain_get_is_the_whole_file_with_the_files_headers(rf, stored):
    made = decided(rf, stored)
    assert (made.status, made.head, made.ranges, made.settled, made.body_bytes) == (
        200,
        False,
        None,
        False,
        SIZE,
    )
    assert dict(made.headers) == file_headers(stored, inline=False)
    assert "Content-Security-Policy" not in made.headers


def test_ranges_are_decided_sorted_and_merged(rf, stored):
    made = decided(rf, stored, Range="bytes=100-199, 0-9, 5-20")
    assert (made.status, made.ranges, made.body_bytes) == (206, ((0, 20), (100, 199)), 21 + 100)


def test_a_head_gets_the_headers_and_no_body_bytes(rf, stored):
    made = decided(rf, stored, method="head", Range="bytes=0-9")
    assert (made.status, made.head, made.ranges, made.body_bytes) == (200, True, None, 0)
    assert dict(made.headers) == file_headers(stored, inline=False)


@pytest.mark.parametrize(
    ("headers", "status"),
    [({"If-None-Match": "etag"}, 304), ({"If-Match": '"other"'}, 412)],
)
def test_preconditions_settle_the_answer_with_the_validators_alone(rf, stored, headers, status):
    headers = {name: stored.etag if value == "etag" else value for name, value in headers.items()}
    made = decided(rf, stored, **headers)
    assert (made.status, made.settled, made.ranges, made.body_bytes) == (status, True, None, 0)
    assert dict(made.headers) == validator_headers(stored)


def test_an_unsatisfiable_range_settles_a_416_with_the_size(rf, stored):
    made = decided(rf, stored, Range=f"bytes={SIZE}-")
    assert (made.status, made.settled, made.body_bytes) == (416, True, 0)
    assert made.headers["Content-Range"] == f"bytes */{SIZE}"


def test_inline_is_decided_only_for_types_safe_to_render(rf, stored, make_file):
    pdf = decided(rf, stored, query="?inline=1")
    assert pdf.headers["Content-Disposition"] == 'inline; filename="report.pdf"'
    assert pdf.headers["Content-Security-Policy"] == "sandbox"
    html = decided(rf, make_file(b"<script>1</script>", name="page.html"), query="?inline=1")
    assert html.headers["Content-Disposition"] == 'attachment; filename="page.html"'
    assert "Content-Security-Policy" not in html.headers


def test_a_decision_cannot_be_changed_by_a_mode(rf, stored):
    made = decided(rf, stored, Range="bytes=0-9")
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.status = 200  # type: ignore[misc]
    with pytest.raises(TypeError):
        made.headers["Content-Type"] = "text/html"  # type: ignore[index]
    with pytest.raises(TypeError):
        made.ranges[0] = (0, 99)  # type: ignore[index]


# --- every mode gets the same decision, made once ---------------------------------------------


@pytest.fixture
def handed(monkeypatch) -> Iterator[list[tuple[str, Decision]]]:
    """Every (mode, decision) a mode's send() is handed, the app's inside nginx's fallback too."""
    seen: list[tuple[str, Decision]] = []
    for module in (app, nginx, s3):
        original, name = module.send, module.__name__.rpartition(".")[2]

        def spy(request, made, _original=original, _name=name):
            seen.append((_name, made))
            return _original(request, made)

        monkeypatch.setattr(module, "send", spy)
    get_mode.cache_clear()
    yield seen
    get_mode.cache_clear()


@pytest.fixture
def decisions_made(monkeypatch) -> list[Decision]:
    """Every decision made, by whichever caller: deliver() looks `decide` up in its package."""
    made: list[Decision] = []

    def counting(request, stored):
        made.append(decision.decide(request, stored))
        return made[-1]

    monkeypatch.setattr(delivery, "decide", counting)
    return made


@pytest.fixture
def preconditions_checked(monkeypatch) -> list[int | None]:
    """Every run of the preflight's conditional-request check, whoever runs it."""
    statuses: list[int | None] = []
    check = decision.precondition_status

    def counting(*args, **kwargs):
        statuses.append(check(*args, **kwargs))
        return statuses[-1]

    monkeypatch.setattr(decision, "precondition_status", counting)
    return statuses


REQUESTS = pytest.mark.parametrize(
    ("method", "query", "headers"),
    [
        ("get", "", {}),
        ("get", "?inline=1", {}),
        ("head", "", {}),
        ("get", "", {"Range": "bytes=100-199"}),
        ("get", "", {"Range": "bytes=0-9, 100-199"}),
        # nginx would serve these unmerged, or check If-Match itself: the app sends them.
        ("get", "", {"Range": "bytes=20-29, 0-25"}),
        ("get", "", {"Range": "bytes=0-9", "If-Match": "etag"}),
    ],
    ids=["whole", "inline", "head", "range", "ranges", "overlapping", "if-match"],
)


def each_mode_decides(settings, client, rf, stored, url, modes, handed, method, query, headers):
    """What each mode was handed for the same request, and the one decision it should be."""
    headers = {name: stored.etag if value == "etag" else value for name, value in headers.items()}
    by_mode = {}
    for mode in modes:
        settings.DOWNLOADS_DELIVERY = mode
        handed.clear()
        response = getattr(client, method)(url + query, headers=headers)
        assert response.status_code in (200, 206, 302)
        if response.streaming:
            b"".join(response.streaming_content)  # to its end, so the response is closed
        by_mode[mode] = list(handed)
    return by_mode, decided(rf, stored, method, query, **headers)


@REQUESTS
def test_every_mode_is_handed_the_same_decision(
    settings, alice_client, rf, stored, url, handed, method, query, headers
):
    by_mode, expected = each_mode_decides(
        settings, alice_client, rf, stored, url, ("django", "nginx"), handed, method, query, headers
    )
    assert [made for _, made in by_mode["django"]] == [expected]
    # nginx mode, or the app after nginx mode's fallback, with that same decision.
    assert by_mode["nginx"][0] == ("nginx", expected)
    assert [made for _, made in by_mode["nginx"]] in ([expected], [expected, expected])


@pytest.mark.integration
@REQUESTS
def test_with_the_files_in_s3_all_three_modes_are_handed_the_same_decision(
    s3_media, settings, alice_client, rf, make_file, handed, method, query, headers
):
    stored = make_file(BODY, name="report.pdf")
    url = reverse("downloads:download", args=[stored.pk])
    by_mode, expected = each_mode_decides(
        settings,
        alice_client,
        rf,
        stored,
        url,
        ("django", "nginx", "s3"),
        handed,
        method,
        query,
        headers,
    )
    assert by_mode["django"] == [("app", expected)]
    assert by_mode["s3"] == [("s3", expected)]
    assert by_mode["nginx"][0] == ("nginx", expected)
    assert [made for _, made in by_mode["nginx"]] in ([expected], [expected, expected])


@pytest.mark.parametrize("mode", ["django", "nginx"])
def test_a_settled_answer_reaches_no_mode(settings, alice_client, stored, url, handed, mode):
    settings.DOWNLOADS_DELIVERY = mode
    response = alice_client.get(url, headers={"If-None-Match": stored.etag})
    assert response.status_code == 304
    assert handed == []


@pytest.mark.parametrize(
    ("headers", "sent"),
    [
        # Overlapping: nginx would not merge them; the app sends the one merged range.
        ({"Range": "bytes=20-29, 0-25"}, BODY[:30]),
        # nginx would check If-Match and If-Unmodified-Since against its own validators.
        ({"Range": "bytes=0-9", "If-Match": "etag"}, BODY[:10]),
        ({"If-Unmodified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"}, BODY),
    ],
    ids=["overlapping", "if-match", "if-unmodified-since"],
)
def test_nginx_modes_fallback_to_the_app_decides_once(
    settings,
    alice_client,
    stored,
    url,
    handed,
    decisions_made,
    preconditions_checked,
    headers,
    sent,
):
    settings.DOWNLOADS_DELIVERY = "nginx"
    headers = {name: stored.etag if value == "etag" else value for name, value in headers.items()}
    response = alice_client.get(url, headers=headers)
    assert "X-Accel-Redirect" not in response
    assert b"".join(response.streaming_content) == sent
    # The app sent it, from the decision nginx mode was handed: one decision, one preflight.
    assert [name for name, _ in handed] == ["nginx", "app"]
    assert len(decisions_made) == 1
    assert handed[1][1] is decisions_made[0]
    assert len(preconditions_checked) == 1
    (row,) = DownloadLog.objects.all()
    assert (row.delivery, row.outcome, row.bytes_sent) == ("nginx", Outcome.COMPLETE, len(sent))


def test_nginx_mode_itself_decides_once(
    settings, alice_client, url, handed, decisions_made, preconditions_checked
):
    settings.DOWNLOADS_DELIVERY = "nginx"
    response = alice_client.get(url, headers={"Range": "bytes=0-9"})
    assert "X-Accel-Redirect" in response
    assert [name for name, _ in handed] == ["nginx"]
    assert (len(decisions_made), len(preconditions_checked)) == (1, 1)


# --- what each mode says it sends -------------------------------------------------------------


def storage_must_not_fail(error):
    pytest.fail(f"storage failed: {error!r}")


def delivered(rf, stored, method="get", **headers):
    request = getattr(rf, method)("/", headers=headers)
    done = deliver(request, stored, on_storage_error=storage_must_not_fail)
    if done.response.streaming:
        b"".join(done.response.streaming_content)  # as a server does, before it closes
    done.response.close()
    return done


def test_the_app_says_it_sends_the_body_and_what_counts_it(rf, settings, stored):
    settings.DOWNLOADS_DELIVERY = "django"
    whole = delivered(rf, stored)
    assert isinstance(whole.response, FileResponse)
    assert whole.sending.counter is whole.response.file_to_stream
    assert (whole.sending.status, whole.sending.bytes_planned, whole.sending.mover) == (
        200,
        SIZE,
        Mover.APP,
    )
    one = delivered(rf, stored, Range="bytes=100-199")
    assert (one.sending.status, one.sending.bytes_planned) == (206, 100)
    several = delivered(rf, stored, Range="bytes=0-9, 100-199")
    assert isinstance(several.response, StreamingHttpResponse)
    assert isinstance(several.sending.counter, TakenChunks)
    # A multipart body's framing is sent and counted too.
    assert several.sending.bytes_planned == int(several.response["Content-Length"]) > 110
    assert delivered(rf, stored, method="head").sending == Sending(200, 0, Mover.APP)


def test_settled_answers_say_nothing_is_sent(rf, stored):
    assert delivered(rf, stored, **{"If-None-Match": stored.etag}).sending == Sending(
        304, 0, Mover.APP
    )
    assert delivered(rf, stored, Range=f"bytes={SIZE}-").sending == Sending(416, 0, Mover.APP)


def test_nginx_mode_says_what_nginx_will_answer(rf, settings, stored):
    settings.DOWNLOADS_DELIVERY = "nginx"
    # Django's own response says 200 with no body; nginx answers 206 with the ranges' bytes.
    ranged = delivered(rf, stored, Range="bytes=0-9, 100-199")
    assert ranged.response.status_code == 200
    assert ranged.sending == Sending(206, 110, Mover.NGINX)
    assert delivered(rf, stored).sending == Sending(200, SIZE, Mover.NGINX)
    assert delivered(rf, stored, method="head").sending == Sending(200, 0, Mover.NGINX)


@pytest.mark.integration
def test_s3_mode_says_the_bucket_sends_what_was_asked(rf, settings, s3_media, make_file):
    settings.DOWNLOADS_DELIVERY = "s3"
    stored = make_file(BODY, name="report.pdf")
    assert delivered(rf, stored, Range="bytes=0-9").sending == Sending(302, 10, Mover.BUCKET)
    assert delivered(rf, stored, method="head").sending == Sending(302, 0, Mover.BUCKET)


def test_a_counted_body_closed_early_still_closes_what_it_wraps():
    closed = []

    def chunks() -> Iterator[bytes]:
        try:
            yield b"abc"
            yield b"de"
        finally:
            closed.append(True)

    body = TakenChunks(chunks())
    next(body)
    body.close()
    assert (closed, body.bytes_taken, body.finished) == ([True], 0, False)
