"""The benchmark's issue 11 verdicts read the right figures: the seek percentiles of 20 ranges,
the signed-URL targets as ratios to the right reference rows, and a peer that answers no range
neither timed nor counted against the app. Plain figures in, no server."""

from bench.browse import percentile
from bench.report import Medians, peer_targets, signed_targets


def test_of_twenty_seeks_p50_is_the_tenth_fastest_and_p99_the_slowest():
    times = [float(n) for n in range(20, 0, -1)]
    assert percentile(times, 0.5) == 10.0
    assert percentile(times, 0.99) == 20.0


def test_signed_targets_are_ratios_to_nginx_direct_and_to_the_checked_download():
    m: Medians = {
        "nginx-direct": {
            "1KiB": {"rps": 1000.0},
            "seek": {"p50_ms": 2.0},
            "gallery": {"wall_ms": 10.0},
        },
        "django-nginx": {"1KiB": {"rps": 100.0}},
        "signed-nginx": {
            "1KiB": {"rps": 900.0},
            "seek": {"p50_ms": 4.0},
            "gallery": {"wall_ms": 12.0},
        },
        "signed-django": {"1KiB": {"rps": 150.0}, "gallery": {"wall_ms": 30.0}},
    }
    found = {target.what: target for target in signed_targets(m)}
    verdicts = {what: (round(t.value or 0, 2), t.met) for what, t in found.items()}
    assert verdicts == {
        "gallery (page + 50 images) signed-nginx / public static": (1.2, True),
        "gallery (page + 50 images) signed-django / public static": (3.0, False),
        "seek p50 signed-nginx / direct": (2.0, False),
        "1 KiB signed-nginx / direct": (0.9, True),
        "1 KiB signed-django / django-nginx (checked)": (1.5, False),
    }


def test_signed_targets_without_signed_rows_are_not_measured_and_not_met():
    assert all(t.value is None and not t.met for t in signed_targets({}))


def test_a_peer_that_ignores_range_is_noted_not_timed():
    figures = {
        "1KiB": {"rps": 100.0},
        "1MiB": {"rps": 10.0},
        "1GiB": {"mib_s": 500.0},
        "range": {"status": 206.0, "p50_ms": 2.0},
    }
    m: Medians = {
        "nginx-mode": figures,
        "django-nginx": figures,
        "peer-handwritten": {**figures, "range": {"status": 200.0}},
    }
    found = {t.what: t for t in peer_targets(m)}
    refused = found["range p50 peer-handwritten / nginx-mode"]
    assert refused.value is None
    assert refused.note == "peer-handwritten answers no range"
    assert found["1 KiB req/s nginx-mode / peer-handwritten"].met  # goal >= 1x: equal figures pass
    # Peers that did not run (--only) get no verdict at all.
    assert not any("sendfile2" in what for what in found)
