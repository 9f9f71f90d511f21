"""The systemd units in deploy/systemd/ run `manage.py prune` daily, as docs/deploy.md says."""

import configparser
import shlex
from pathlib import Path

from harness.process import ROOT

UNITS = ROOT / "deploy" / "systemd"


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=True, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(Path(UNITS / name).read_text())
    return parser


def test_the_service_runs_prune_once_with_the_apps_environment():
    service = unit("protected-downloads-prune.service")["Service"]
    assert service["Type"] == "oneshot"
    command = shlex.split(service["ExecStart"])
    assert command[1:] == ["manage.py", "prune"]
    # The same user, directory and environment as the app's own unit (docs/deploy.md).
    deploy_doc = (ROOT / "docs" / "deploy.md").read_text()
    for key in ("User", "WorkingDirectory", "EnvironmentFile"):
        assert f"{key}={service[key]}" in deploy_doc
    assert command[0] == f"{service['WorkingDirectory']}/.venv/bin/python"


def test_the_timer_is_daily_and_catches_up_after_downtime():
    timer = unit("protected-downloads-prune.timer")
    assert timer["Timer"]["OnCalendar"] == "*-*-* 03:30:00"
    assert timer["Timer"]["Persistent"] == "true"
    assert timer["Install"]["WantedBy"] == "timers.target"
