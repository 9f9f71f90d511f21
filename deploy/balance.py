"""Keeps the requests waiting in each gunicorn worker about even (deploy/worker.py uses it).

With one listening socket per worker (`reuse_port`), the kernel gives each new connection to a
worker by a hash of its addresses, and a kept-alive connection stays with that worker. Under load
every connection has a request waiting in its worker, so a worker's queue is as long as its share
of the connections, while every worker serves at the same rate (each gets an equal share of the
CPUs): the hash's luck decided how long a user waited. Measured with three workers behind nginx
at 256 connections: 53, 68 and 98 requests queued on average, waits of 283, 361 and 532 ms at
the median.

Each worker publishes its load (requests waiting for a thread or in one) in a table all workers
share: a small anonymous shared mapping, made in the arbiter when it imports this module, which
every worker it forks inherits. A worker whose load is well above the workers' mean answers one
request with `Connection: close`, at most once per CHECK_INTERVAL_S: the client (nginx, or a
browser with `make run`) opens a new connection for its next request, and the hash gives that
one to any worker. The answer itself is complete; only the connection is not kept.
"""

import mmap
import struct
import time
from collections.abc import Callable

# A slot: when its worker last wrote (time.monotonic(), the same clock in every process) and
# its load. A slot not written for STALE_S belongs to no live worker (the main loop writes at
# least once a second) and may be given to a new one.
_SLOT = struct.Struct("dq")
SLOTS = 256
STALE_S = 5.0
# Overloaded: above the mean of the live workers' loads by this share and by at least this
# many requests (a few requests more is noise, not a queue).
MARGIN = 0.1
MIN_EXCESS = 4
# The table is read this often, and one connection at most is shed per reading.
CHECK_INTERVAL_S = 0.05


class LoadTable:
    """Each worker's load, in memory the arbiter and its workers share."""

    def __init__(self, slots: int = SLOTS, clock: Callable[[], float] = time.monotonic) -> None:
        self.slots = slots
        self.clock = clock
        self.memory = mmap.mmap(-1, slots * _SLOT.size, flags=mmap.MAP_SHARED)
        for slot in range(slots):  # zeroed memory would read as written at time 0
            self.release(slot)

    def claim(self) -> int:
        """(The arbiter, before it forks a worker) a free slot, marked taken; -1 if none is."""
        now = self.clock()
        written = [at for at, _ in _SLOT.iter_unpack(self.memory)]
        free = [slot for slot, at in enumerate(written) if now - at >= STALE_S]
        if not free:
            return -1
        slot = min(free, key=written.__getitem__)
        self.publish(slot, 0)
        return slot

    def publish(self, slot: int, load: int) -> None:
        _SLOT.pack_into(self.memory, slot * _SLOT.size, self.clock(), load)

    def release(self, slot: int) -> None:
        """(A stopping worker) leave the slot, so its last load no longer counts."""
        _SLOT.pack_into(self.memory, slot * _SLOT.size, float("-inf"), 0)

    def mean_load(self) -> float:
        """The mean load of the workers alive now (those that wrote within STALE_S)."""
        now = self.clock()
        loads = [load for at, load in _SLOT.iter_unpack(self.memory) if now - at < STALE_S]
        return sum(loads) / len(loads) if loads else 0.0


class Shedder:
    """One worker's side: publishes its load, and says when a connection should go."""

    def __init__(self, table: LoadTable, slot: int) -> None:
        self.table = table
        self.slot = slot
        self.checked_at = float("-inf")
        self.pending = False
        self.shed = 0  # connections closed to even the load, for a look with a debugger or test

    def update(self, load: int) -> None:
        """(The worker's main loop, each turn) publish `load`; decide whether to shed."""
        if self.slot < 0:
            return
        self.table.publish(self.slot, load)
        now = self.table.clock()
        if now - self.checked_at < CHECK_INTERVAL_S:
            return
        self.checked_at = now
        if self.pending:
            return
        mean = self.table.mean_load()
        self.pending = load - mean >= max(MIN_EXCESS, MARGIN * mean)

    def release(self) -> None:
        if self.slot >= 0:
            self.table.release(self.slot)

    def take(self) -> bool:
        """(A request's thread, before it answers) whether this answer should close."""
        if not self.pending:
            return False
        self.pending = False  # two threads may both see it: two connections go, no harm
        self.shed += 1
        return True
