"""`make soak` end to end, short: the harness starts nginx in front of gunicorn (django mode),
sends its mix with wrk for a few seconds at two connection counts, and its report is filled in
and its accounting holds: every download wrk saw answered has its log row, none is invented.

This proves the tool, not the app's speed (the figures of a 3-second run on a shared machine
mean nothing); `make soak` measures. The bound only says the harness finishes by itself."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.soak import mix

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent
# Setup (migrate, files, servers) takes ~15 s and the runs ~15 s on a quiet machine; a machine
# shared with other test suites may take several times that. Past this, the harness hung.
HARNESS_DEADLINE_S = 240


def test_a_short_soak_reports_every_figure_and_a_log_row_per_answered_download(tmp_path):
    out = tmp_path / "soak.json"
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.soak",
            "--only=django-nginx",
            "--seconds=4",
            "--rounds=2",
            "--connections=4,16",
            "--warmup=1",
            f"--json={out}",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=HARNESS_DEADLINE_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| django mode, nginx in front |" in done.stdout

    payload = json.loads(out.read_text())
    assert [run["connections"] for run in payload["runs"]] == [4, 16]
    # Two interleaved slices of 2 s per count, merged: their requests add up.
    for run in payload["runs"]:
        assert [part["connections"] for part in run["slices"]] == [run["connections"]] * 2
        parts = [part["outcome"] for part in run["slices"]]
        assert run["outcome"]["requests"] == sum(part["requests"] for part in parts)
        assert run["outcome"]["seconds"] == pytest.approx(sum(p["seconds"] for p in parts))
        assert run["outcome"]["latency_ms"]["max"] == max(p["latency_ms"]["max"] for p in parts)
    for run in payload["runs"]:
        outcome = run["outcome"]
        assert outcome["requests"] > 0
        assert run["requests_per_s"] > 0
        assert 0 < outcome["latency_ms"]["p50"] <= outcome["latency_ms"]["p99"]
        assert outcome["latency_ms"]["p99"] <= outcome["latency_ms"]["max"]
        sent = outcome["sent_latency_ms"]  # without wrk's added requests (omission.py)
        assert 0 < sent["p50"] <= sent["p99"] <= outcome["latency_ms"]["max"]
        assert run["server_errors"] == 0, outcome["statuses"]
        assert run["socket_errors"] == 0, outcome["errors"]
        # Every kind of answer the mix asks for came back, classed as mix.lua classes it.
        assert outcome["received"]["download"] > 0
        assert outcome["received"]["not_found"] > 0
        assert outcome["received"]["page"] > 0
        assert set(outcome["received"]) <= {"download", "not_found", "page", "login"}
        assert outcome["statuses"].get("304", 0) > 0
        assert outcome["statuses"].get("206", 0) > 0
        assert set(outcome["sent"]) == set(mix.WEIGHTS)
        # The download log: one row per answered download, at most the in-flight ones more.
        downloads = run["downloads"]
        assert downloads["answered"] == outcome["received"]["download"]
        assert downloads["answered"] <= downloads["rows"]
        assert downloads["rows"] <= downloads["answered"] + downloads["in_flight"]
        # wrk stops each slice with at most a request per connection outstanding (and one more).
        assert downloads["in_flight"] <= len(run["slices"]) * (run["connections"] + 1)
        # Told apart by what became of each request (complete, aborted...): the same rows.
        assert sum(downloads["by_outcome"].values()) == downloads["rows"]
        # Never a denied row for a request that was not made.
        assert run["denied"]["rows"] <= run["denied"]["answered"] + run["denied"]["in_flight"]
        # The workers of both servers, read from /proc before and after.
        for moment in ("start", "end"):
            for server in ("gunicorn", "nginx"):
                workers = run[moment][server]
                assert workers, (moment, server)
                assert all(w["rss_mib"] > 0 and w["fds"] > 0 for w in workers)
    assert {target["what"] for target in payload["targets"]} >= {
        "django-nginx at 16: wrk's p99 / the same at 4",
        "django-nginx at 16: req/s / req/s at 4",
        "django-nginx at 16: log rows - downloads answered",
    }
