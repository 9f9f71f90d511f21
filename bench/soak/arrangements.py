"""What a deployer runs, one arrangement at a time: gunicorn with deploy/gunicorn.conf.py behind
nginx from deploy/nginx.conf.template in each delivery mode, and gunicorn alone as `make run`
starts it. The servers are bench/servers.py's; only the choice of them is here."""

from collections.abc import Callable
from dataclasses import dataclass, field

from bench import servers
from bench.workspace import Workspace
from harness.process import Server
from harness.s3 import MotoS3


@dataclass
class Arrangement:
    key: str
    label: str
    # Where the clients connect.
    entry: Server
    # The gunicorn whose workers are watched.
    app: Server
    # nginx in front, whose workers are watched; None for gunicorn alone.
    proxy: Server | None
    # Every process group started for it, stopped in reverse order.
    started: list[Server] = field(default_factory=list)

    def stop(self) -> None:
        for server in reversed(self.started):
            server.stop()


@dataclass(frozen=True)
class Plan:
    key: str
    label: str
    delivery: str
    behind_nginx: bool
    needs_bucket: bool = False


PLANS = (
    Plan("django-nginx", "django mode, nginx in front", "django", behind_nginx=True),
    Plan("nginx-nginx", "nginx mode (X-Accel-Redirect)", "nginx", behind_nginx=True),
    Plan("s3-nginx", "s3 mode (302 to moto), nginx in front", "s3", True, needs_bucket=True),
    # `make run`: gunicorn alone, its access log on.
    Plan("gunicorn", "gunicorn alone (make run)", "django", behind_nginx=False),
)
KEYS = tuple(plan.key for plan in PLANS)


def start(plan: Plan, ws: Workspace, bucket: Callable[[], MotoS3]) -> Arrangement:
    """Start the plan's servers; `bucket` gives the S3 server (started once, when needed)."""
    started: list[Server] = []
    try:
        extra = {"DOWNLOADS_DELIVERY": plan.delivery}
        if plan.needs_bucket:
            extra |= bucket().server_env()
        if not plan.behind_nginx:
            extra["GUNICORN_ACCESSLOG"] = "-"
        app = servers.start_gunicorn(ws, f"soak-{plan.key}", **extra)
        started.append(app)
        proxy: Server | None = None
        if plan.behind_nginx:
            proxy = servers.start_nginx(ws, f"nginx-{plan.key}", app)
            started.append(proxy)
    except BaseException:
        for server in reversed(started):
            server.stop()
        raise
    return Arrangement(
        key=plan.key,
        label=plan.label,
        entry=proxy or app,
        app=app,
        proxy=proxy,
        started=started,
    )
