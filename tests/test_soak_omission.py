"""Taking wrk's coordinated-omission correction back out of the soak's latencies
(bench/soak/omission.py): from the percentiles mix.lua reports, the latencies of the requests
wrk really sent, within the grid's resolution."""

import random

import pytest
from wrkstats import wrk_corrected, wrk_percentile, wrk_quantiles

from bench.soak import mix, omission

CONNECTIONS = 16


def reported(latencies_us: list[int]) -> tuple[tuple[float, int], ...]:
    """mix.lua's percentiles of these latencies, as wrk corrects them over a 60 s run."""
    return wrk_quantiles(wrk_corrected(latencies_us, interval_of(latencies_us)))


def interval_of(latencies_us: list[int]) -> int:
    return omission.wrk_interval_us(60_000_000, len(latencies_us), CONNECTIONS)


def mix_at_16_connections(seed: int) -> list[int]:
    """Like the soak's at 16 connections: mostly fast answers, some slow pages, and a login in
    a thousand that takes a second."""
    rng = random.Random(seed)
    latencies = []
    for _ in range(34_000):
        kind = rng.random()
        if kind < 0.001:
            latencies.append(rng.randint(800_000, 1_400_000))
        elif kind < 0.03:
            latencies.append(rng.randint(60_000, 250_000))
        else:
            latencies.append(rng.randint(2_000, 45_000))
    return latencies


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_requests_wrk_added_are_taken_out(seed):
    sent = mix_at_16_connections(seed)
    quantiles = reported(sent)

    undone = dict(omission.uncorrected(quantiles, interval_of(sent)))

    # What wrk reports is far from what happened: its added requests make the p99 several
    # times that of the requests sent.
    assert dict(quantiles)[99] > 2.5 * wrk_percentile(sent, 99)
    for percent in (50, 90, 95, 99):
        assert undone[percent] == pytest.approx(wrk_percentile(sent, percent), rel=0.05), percent
    assert undone[100] == max(sent)


def test_a_queue_of_equal_waits_is_left_as_wrk_reports_it():
    # 256 connections on a saturated server: every latency near the mean, none twice the
    # interval, so wrk adds nothing and nothing is taken out.
    rng = random.Random(4)
    sent = [rng.randint(400_000, 700_000) for _ in range(30_000)]
    interval = omission.wrk_interval_us(60_000_000, len(sent), 256)
    quantiles = wrk_quantiles(sent)

    assert omission.uncorrected(quantiles, interval) == quantiles


def test_wrk_corrects_nothing_when_a_connection_had_no_answer():
    assert omission.wrk_interval_us(1_000_000, requests=10, connections=16) == 0
    quantiles = ((50.0, 1000), (100.0, 900_000))
    assert omission.uncorrected(quantiles, 0) == quantiles


def slice_of(latencies_us: list[int]) -> mix.Outcome:
    """One slice's outcome as mix.parse() makes it: wrk's percentiles and the sent ones."""
    quantiles = reported(latencies_us)
    return mix.Outcome(
        seconds=60.0,
        requests=len(latencies_us),
        latency_ms={"max": max(latencies_us) / 1000, "mean": 0.0},
        errors={},
        sent={},
        received={},
        statuses={},
        latency_quantiles=quantiles,
        sent_quantiles=omission.uncorrected(quantiles, interval_of(latencies_us)),
    )


def test_slices_merge_by_the_requests_they_sent():
    fast = mix_at_16_connections(5)
    slow = [latency * 2 for latency in mix_at_16_connections(6)]
    slices = [slice_of(latencies) for latencies in (fast, slow)]

    merged = mix.merge(slices)

    assert merged.sent_latency_ms["p99"] * 1000 == pytest.approx(
        wrk_percentile(fast + slow, 99), rel=0.05
    )
    assert merged.latency_ms["p99"] > 2 * merged.sent_latency_ms["p99"]
