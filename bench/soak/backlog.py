"""How many connections wait, not yet accepted, on gunicorn's listening sockets during a run.

A gthread worker stops accepting once it works on `worker_connections` requests (plain gthread:
holds that many connections, kept-alive idle ones included); whoever connects after that waits
in the kernel's accept queue until a slot frees. For a listening socket, /proc/net/tcp's
rx_queue is that queue's current length; with `reuse_port` each worker has its own socket on the
port, and the queues are summed.
"""

from bench.procstat import Sampler
from harness.procfs import LISTEN, tcp_sockets


def accept_queue(port: int) -> int:
    """Connections waiting to be accepted on the listeners of `port` (0 if none)."""
    return sum(sock.rx_queue for sock in tcp_sockets(port) if sock.state == LISTEN)


class QueueWatch(Sampler):
    """Samples the accept queue of `port` while a block runs: its longest and its mean."""

    def __init__(self, port: int, interval: float = 0.1) -> None:
        super().__init__(interval)
        self.port = port
        self.samples: list[int] = []

    def sample(self) -> None:
        self.samples.append(accept_queue(self.port))

    @property
    def longest(self) -> int:
        return max(self.samples, default=0)

    @property
    def mean(self) -> float:
        return sum(self.samples) / len(self.samples) if self.samples else 0.0
