"""SIGTERM and Ctrl-C end a benchmark run cleanly."""

import signal


def _stop(signum: int, frame: object) -> None:
    # Unwinds through run()'s `finally`: servers stopped, workspace removed.
    raise SystemExit(128 + signum)


def stop_on_signals() -> None:
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
