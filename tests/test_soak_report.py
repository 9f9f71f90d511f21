"""`make soak`'s arithmetic: what wrk's Lua report says, how log rows are judged against the
downloads answered, and the issue's targets against the 16-connection baseline."""

import dataclasses
import json

import pytest

from bench.soak import accounting, mix, report
from bench.soak.footprint import Footprint, Worker
from bench.soak.run import RunResult


def wrk_report(**overrides):
    figures = {
        "duration_us": 2_000_000,
        "requests": 1000,
        "bytes": 123,
        "errors": {"connect": 0, "read": 0, "write": 0, "status": 100, "timeout": 0},
        "latency_us": {"p50": 5000, "p90": 9000, "p99": 20000, "p999": 40000, "max": 50000},
        "sent": {"small": 500, "big": 100, "range": 100, "not_modified": 100, "missing": 110},
        "received": {"download": 790, "not_found": 100, "page": 110},
        "statuses": {"200": 600, "206": 100, "304": 100, "404": 100, "503": 0},
    }
    figures |= overrides
    return "Running 2s test\n  Requests/sec: 500.00\n" + mix.MARKER + json.dumps(figures) + "\n"


def result(connections=16, *, p99_us=20000, requests=1000, rows=800, **overrides):
    outcome = mix.parse(
        wrk_report(
            requests=requests,
            latency_us={"p50": 5000, "p90": 9000, "p99": p99_us, "p999": p99_us, "max": p99_us},
            **overrides,
        ),
        connections,
    )
    worker = Worker(pid=1, rss_mib=70.0, fds=30)
    return RunResult(
        arrangement="django-nginx",
        connections=connections,
        outcome=outcome,
        rows_before=accounting.Rows(downloads=100, denied=0),
        rows_after=accounting.Rows(downloads=100 + rows, denied=0),
        settle_s=1.0,
        start=Footprint(gunicorn=(worker,), nginx=()),
        end=Footprint(gunicorn=(worker,), nginx=()),
        foreign_cpu_share=0.0,
    )


def test_the_lua_report_is_read_into_rates_latencies_and_counts():
    outcome = mix.parse(wrk_report(statuses={"200": 700, "404": 100, "502": 3, "500": 1}), 16)

    assert outcome.requests_per_s == 500
    assert outcome.latency_ms["p99"] == 20
    assert outcome.server_errors == 4
    assert outcome.unexpected_statuses == {"404": 100, "500": 1, "502": 3}
    assert outcome.downloads_sent == 800
    assert outcome.downloads_answered == 790
    assert outcome.downloads_in_flight == 10
    assert outcome.missing_in_flight == 10
    assert outcome.strays == 0


def test_requests_per_s_is_that_of_the_whole_seconds_after_the_warm_up():
    # Seconds 100 and 107 are partial; 101 and 102 are the warm-up (every connection's first
    # request, wrk's buffers growing); 104 had no answer at all and still counts.
    per_second = "100:40,101:300,102:450,103:500,105:520,106:480,107:90"
    outcome = mix.parse(wrk_report(requests=2380, duration_us=7_500_000, per_second=per_second), 16)

    assert mix.WARMUP_S == 2
    assert (outcome.steady_requests, outcome.steady_seconds) == (1500, 4)
    assert outcome.requests_per_s == 375


def test_a_run_too_short_for_a_steady_state_falls_back_to_its_whole_length():
    outcome = mix.parse(wrk_report(per_second="100:40,101:300,102:450,103:210"), 16)

    assert outcome.steady_seconds == 0
    assert outcome.requests_per_s == 500


def test_a_lost_session_or_an_unknown_answer_fails_its_target():
    run = result(received={"download": 780, "not_found": 100, "page": 110, "redirect": 10})

    found = {target.what: target for target in report.targets([run])}

    assert run.outcome.strays == 10
    assert not found["django-nginx at 16: answers of no kind in the mix"].met


def test_a_report_without_the_lua_line_is_an_error_not_zeros():
    with pytest.raises(ValueError, match="SOAK-RESULT"):
        mix.parse("Running 2s test\n  Requests/sec: 500.00\n", 16)


@pytest.mark.parametrize(
    ("rows", "holds"),
    [
        (790, True),  # every answered download has its row
        (800, True),  # and the 10 in flight were answered by the server too
        (789, False),  # an answered download without a row
        (801, False),  # a row for a download nobody asked for
    ],
)
def test_log_rows_must_match_the_downloads_answered_give_or_take_those_in_flight(rows, holds):
    verdict = accounting.Verdict(rows=rows, answered=790, in_flight=10)

    assert verdict.holds is holds
    assert ("ok" if holds else "MISMATCH") in verdict.describe()


def test_the_runs_rows_are_told_apart_by_outcome():
    before = accounting.Rows(10, 0, outcomes=(("", 4), ("complete", 6)))
    after = accounting.Rows(25, 0, outcomes=(("", 4), ("aborted", 3), ("complete", 18)))

    assert accounting.outcomes_between(before, after) == {"aborted": 3, "complete": 12}

    run = result(rows=15)
    run = dataclasses.replace(run, rows_before=before, rows_after=after)
    assert "aborted 3, complete 12" in report.render([run], {}, [], [])


def test_settling_waits_for_the_writers_rows_and_gives_up_when_they_stop_short():
    counts = iter([0, 3, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5])
    rows, _ = accounting.settle(
        lambda: accounting.Rows(next(counts), 0), accounting.Rows(5, 0), quiet_s=0.3
    )
    assert rows.downloads == 5

    rows, waited = accounting.settle(
        lambda: accounting.Rows(2, 0), accounting.Rows(5, 0), quiet_s=0.1, give_up_s=0.5
    )
    assert rows.downloads == 2
    assert waited < 5


def test_targets_compare_each_run_with_the_16_connection_run_of_its_arrangement():
    runs = [
        result(16, p99_us=20000, requests=1000, rows=790),
        result(64, p99_us=80000, requests=1000, rows=790),  # exactly 4x, as fast: met
        result(256, p99_us=81000, requests=900, rows=780),  # past 4x, slower, a missing row
    ]
    found = {target.what: target for target in report.targets(runs)}

    assert found["django-nginx at 64: wrk's p99 / the same at 16"].met
    assert found["django-nginx at 64: req/s / req/s at 16"].met
    assert not found["django-nginx at 256: wrk's p99 / the same at 16"].met
    assert not found["django-nginx at 256: req/s / req/s at 16"].met
    assert not found["django-nginx at 256: log rows - downloads answered"].met
    assert found["django-nginx at 16: 5xx"].met
    assert "django-nginx at 16: wrk's p99 / the same at 16" not in found
    # 1,000 requests in 2 s over 64 connections waited 128 ms on average; 4 x 20 ms is less.
    assert found["django-nginx at 64: wrk's p99 / the same at 16"].goal == (
        "<= 4x; asks p99 <= 0.62x this run's mean wait, 128 ms"
    )


def test_the_table_has_a_line_per_run_and_the_json_every_figure():
    runs = [result(16), result(64)]
    text = report.render(runs, {"django-nginx": "django mode"}, report.targets(runs), ["note"])

    assert text.count("| django mode ") == 2
    payload = report.as_json(runs[1])
    assert payload["downloads"] == {
        "rows": 800,
        "answered": 790,
        "in_flight": 10,
        "holds": True,
        "by_outcome": {},
    }
    assert payload["start"]["gunicorn"][0]["fds"] == 30
    json.dumps(payload)


def test_the_workers_cpu_split_is_shares_of_their_sum_largest_first():
    from bench.soak import balance

    assert balance.split([3.0, 1.0]) == (0.75, 0.25)
    assert balance.describe(balance.split([1.0, 3.0])) == "75/25%"
    assert balance.split([0.0, 0.0]) == ()
    assert balance.describe(()) == "—"


def test_the_sent_p99_is_compared_with_the_mean_wait_that_littles_law_gives():
    # 1,000 requests in 2 s over 256 connections: each waited 512 ms on average; a slowest 1%
    # at 768 ms waited 1.5 times that. Without wrk's percentiles there is no sent p99.
    grid = ",".join(f"{p:g}:{512_000 if p < 99 else 768_000}" for p in mix.QUANTILE_PERCENTS)
    run = result(256, latency_quantiles=grid)

    assert report.mean_wait_ms(run) == pytest.approx(512)
    assert run.outcome.sent_latency_ms["p99"] == pytest.approx(768)
    assert report.sent_p99_over_mean(run) == pytest.approx(1.5)
    assert report.sent_p99_over_mean(result(256)) is None
    assert " 1.50x |" in report.render([run], {}, [], [])
