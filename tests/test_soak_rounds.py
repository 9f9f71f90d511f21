"""`make soak`'s interleaved slices: the order that cancels a drifting machine, latencies merged
by requests rather than by averaging percentiles, and the log accounting kept per slice."""

import dataclasses

import pytest
from wrkstats import wrk_percentile, wrk_quantiles

from bench.soak import accounting, mix, report, rounds
from bench.soak.footprint import Footprint, Worker
from bench.soak.run import RunResult


def outcome(latencies_us: list[int], seconds: float = 10.0, **counts) -> mix.Outcome:
    """What mix.lua's done() reports for requests that took these latencies."""
    return mix.Outcome(
        seconds=seconds,
        requests=len(latencies_us),
        latency_ms={
            "p50": wrk_percentile(latencies_us, 50) / 1000,
            "p90": wrk_percentile(latencies_us, 90) / 1000,
            "p99": wrk_percentile(latencies_us, 99) / 1000,
            "p999": wrk_percentile(latencies_us, 99.9) / 1000,
            "max": max(latencies_us) / 1000,
            "mean": sum(latencies_us) / len(latencies_us) / 1000,
        },
        errors=counts.get("errors", {"connect": 0, "read": 0, "write": 0, "timeout": 0}),
        sent=counts.get("sent", {"small": len(latencies_us)}),
        received=counts.get("received", {"download": len(latencies_us)}),
        statuses=counts.get("statuses", {"200": len(latencies_us)}),
        latency_quantiles=wrk_quantiles(latencies_us),
    )


def a_slice(connections: int, latencies_us: list[int], *, rows: int | None = None, **fields):
    answered = len(latencies_us)
    worker = Worker(pid=1, rss_mib=70.0, fds=30)
    return RunResult(
        arrangement="django-nginx",
        connections=connections,
        outcome=outcome(latencies_us),
        rows_before=accounting.Rows(downloads=1000, denied=0),
        rows_after=accounting.Rows(downloads=1000 + (answered if rows is None else rows), denied=0),
        settle_s=1.0,
        start=Footprint(gunicorn=(worker,), nginx=()),
        end=Footprint(gunicorn=(worker,), nginx=()),
        foreign_cpu_share=0.0,
        **fields,
    )


def test_every_other_round_runs_backwards_so_each_count_sees_every_moment_alike():
    order = rounds.schedule([16, 64, 256], 4)

    assert order == [16, 64, 256, 256, 64, 16, 16, 64, 256, 256, 64, 16]
    # A machine slowing down steadily over the run costs each count the same.
    positions = {n: sum(i for i, m in enumerate(order) if m == n) for n in (16, 64, 256)}
    assert len(set(positions.values())) == 1
    assert rounds.schedule([16, 256], 1) == [16, 256]


def test_one_run_merged_gives_wrks_own_percentiles_back():
    latencies = [1000 + (i * 7919) % 250_000 for i in range(3000)] + [900_000, 1_200_000]
    single = outcome(latencies)

    merged = mix.merge([single])

    for name in ("p50", "p90", "p99", "p999", "max"):
        assert merged.latency_ms[name] == single.latency_ms[name], name
    assert merged.latency_ms["mean"] == pytest.approx(single.latency_ms["mean"])


def test_merged_latencies_are_those_of_every_request_not_a_mean_of_percentiles():
    fast = outcome([10_000] * 1000)
    # 1% of this slice are slow: its own p99 is 500 ms, but half a percent of all requests.
    slow_tail = outcome([20_000] * 990 + [500_000] * 10)
    assert slow_tail.latency_ms["p99"] == 500

    merged = mix.merge([fast, slow_tail])

    assert merged.requests == 2000
    assert merged.seconds == 20
    assert merged.latency_ms["p50"] == 10
    assert merged.latency_ms["p99"] == 20  # a mean of the two p99s would say 255
    assert merged.latency_ms["p999"] == 500
    assert merged.latency_ms["max"] == 500
    assert merged.requests_per_s == 100


def test_counts_add_up_across_slices():
    one = outcome([5000] * 10, statuses={"200": 8, "404": 2}, received={"download": 8})
    two = outcome([5000] * 10, statuses={"200": 9, "503": 1}, received={"download": 9})

    merged = mix.merge([one, two])

    assert merged.statuses == {"200": 17, "404": 2, "503": 1}
    assert merged.server_errors == 1
    assert merged.downloads_answered == 17


def test_steady_states_add_up_across_slices():
    one = dataclasses.replace(outcome([5000] * 10), steady_requests=6, steady_seconds=2)
    two = dataclasses.replace(outcome([5000] * 10), steady_requests=9, steady_seconds=1)

    merged = mix.merge([one, two])

    assert (merged.steady_requests, merged.steady_seconds) == (15, 3)
    assert merged.requests_per_s == 5


def test_a_run_without_its_distribution_is_refused_rather_than_merged_as_nothing():
    bare = dataclasses.replace(outcome([5000] * 10), latency_quantiles=())

    with pytest.raises(ValueError, match="distribution"):
        mix.merge([bare, outcome([5000] * 10)])


def test_slices_of_one_count_combine_into_one_run():
    slices = [
        a_slice(256, [10_000] * 100, worker_shares=(0.5, 0.5), worker_cpu_s=10.0),
        a_slice(256, [30_000] * 300, worker_shares=(0.75, 0.25), worker_cpu_s=30.0),
    ]

    run = rounds.combine(slices)

    assert run.connections == 256
    assert run.outcome.requests == 400
    assert run.downloads == accounting.Verdict(rows=400, answered=400, in_flight=0)
    assert run.rows_hold
    assert run.worker_cpu_s == 40
    assert run.worker_shares == pytest.approx((0.6875, 0.3125))
    assert run.slices == tuple(slices)


def test_a_row_missing_in_one_slice_is_not_hidden_by_a_surplus_in_another():
    short = a_slice(16, [10_000] * 100, rows=99)  # an answered download without its row
    # 101 rows for 100 answers is within this slice's in-flight allowance on its own.
    extra = a_slice(16, [10_000] * 100, rows=101)
    extra = dataclasses.replace(
        extra, outcome=dataclasses.replace(extra.outcome, sent={"small": 101})
    )

    run = rounds.combine([short, extra])

    assert run.downloads.holds  # 200 rows for 200 answers and 1 in flight, summed
    assert not run.rows_hold
    found = {target.what: target for target in report.targets([run])}
    assert not found["django-nginx at 16: log rows - downloads answered"].met
    assert "MISMATCH in a slice" in report.render([run], {}, [], [])


def test_a_denied_row_missing_in_one_slice_is_not_hidden_by_a_surplus_in_another():
    def denying(denied_rows: int, missing_sent: int) -> RunResult:
        base = a_slice(64, [10_000] * 100)
        return dataclasses.replace(
            base,
            outcome=dataclasses.replace(
                base.outcome,
                sent={"small": 90, "missing": missing_sent},
                received={"download": 90, "not_found": 10},
            ),
            rows_before=accounting.Rows(downloads=1000, denied=50),
            rows_after=accounting.Rows(downloads=1090, denied=50 + denied_rows),
        )

    # One 404 without its row; the other slice has one row for a 404 still in flight.
    run = rounds.combine([denying(9, 10), denying(11, 11)])

    assert run.denied.holds  # 20 rows for 20 answers and 1 in flight, summed
    assert run.rows_hold
    assert not run.denied_rows_hold
    assert "(MISMATCH in a slice)" in report.render([run], {}, [], [])
    assert report.as_json(run)["denied"]["holds"] is False


def test_the_throughput_ratio_is_shown_round_by_round_beside_the_merged_one():
    def timed(connections: int, requests: int) -> RunResult:
        return a_slice(connections, [10_000] * requests)  # each slice lasts 10 s

    order = rounds.schedule([16, 256], 2)  # 16, 256, 256, 16
    per_slice = {16: iter([100, 120]), 256: iter([110, 108])}
    runs = rounds.combine_all([timed(n, next(per_slice[n])) for n in order])
    base, many = runs

    assert report.rps_ratio(many, base) == pytest.approx(218 / 220)
    assert report.rps_ratios_per_round(many, base) == pytest.approx([1.10, 0.90])
    assert report.rps_ratios_per_round(base, base) == []
    (target,) = [t for t in report.targets(runs) if "req/s" in t.what]
    # 0.99x, where the rounds' ratios scatter by 0.1 (standard error of their mean 0.1, capped):
    # the shortfall is within the soak's error.
    assert target.met
    assert target.goal == (
        ">= 1x less the rounds' standard error (0.05, at most 0.05); per round 0.90 to 1.10x"
    )
    assert " 0.90 to 1.10x |" in report.render(runs, {}, [], [])


@pytest.mark.parametrize(
    ("slices_at_256", "met"),
    [
        # Rounds that agree leave no room: 0.97x in every round is 0.97x.
        ([97, 97, 97, 97], False),
        # 0.95, 1.01, 0.97 and 1.03x: 0.99x, within the standard error of their mean (0.018).
        ([95, 101, 97, 103], True),
        # However far apart the rounds, a shortfall past 5% is one: 0.94x.
        ([60, 130, 60, 126], False),
    ],
)
def test_a_throughput_shortfall_counts_once_it_exceeds_the_rounds_error(slices_at_256, met):
    order = rounds.schedule([16, 256], 4)
    counts = {16: iter([100] * 4), 256: iter(slices_at_256)}
    runs = rounds.combine_all([a_slice(n, [10_000] * next(counts[n])) for n in order])

    (target,) = [t for t in report.targets(runs) if "req/s" in t.what]

    assert target.met is met


def test_one_round_leaves_no_room_for_error():
    runs = rounds.combine_all([a_slice(16, [10_000] * 100), a_slice(256, [10_000] * 99)])

    (target,) = [t for t in report.targets(runs) if "req/s" in t.what]

    assert report.rps_tolerance(report.rps_ratios_per_round(runs[1], runs[0])) == 0.0
    assert not target.met
    assert target.goal.startswith(">= 1x less the rounds' standard error (0.00, at most 0.05)")


def test_each_arrangement_and_count_is_one_run_in_the_order_first_run():
    order = rounds.schedule([16, 256], 2)
    slices = [a_slice(n, [10_000] * 10) for n in order]

    runs = rounds.combine_all(slices)

    assert [(run.connections, len(run.slices)) for run in runs] == [(16, 2), (256, 2)]
    with pytest.raises(ValueError, match="different runs"):
        rounds.combine(slices)
