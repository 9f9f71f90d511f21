"""What a server's processes are and cost, read from /proc: the process tree, CPU time, resident
memory, open files and TCP sockets. A process that has gone counts as nothing rather than
raising (a worker may exit between listing and reading), except in rss_kib()."""

import os
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
MIB = 1024 * 1024


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants (a gunicorn master and its workers, nginx and its workers)."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            child_ids = (task / "children").read_text().split()
        except OSError:
            continue
        for child in child_ids:
            found.extend(process_tree(int(child)))
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU seconds the processes have used so far (threads included)."""
    ticks = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces: fields are counted after its closing parenthesis.
        fields = stat[stat.rindex(")") + 2 :].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / CLOCK_TICKS


def machine_busy_seconds() -> float:
    """CPU seconds all processes of the machine have used since boot, summed over its CPUs."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle, iowait = fields[3], fields[4]
    # guest times are already counted in user and nice
    return (sum(fields[:8]) - idle - iowait) / CLOCK_TICKS


def rss_kib(pid: int) -> int:
    """Resident memory of the process (VmRSS). Raises once it is gone: a test watching one
    worker must not read a dead one as a small one."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise ProcessLookupError(f"no VmRSS for {pid} (a zombie?)")


def rss_bytes(pid: int) -> int:
    """Resident memory of the process; 0 once it is gone (for samplers over many processes)."""
    try:
        return rss_kib(pid) * 1024
    except OSError:  # gone, or a zombie
        return 0


def open_fds(pid: int) -> int:
    """How many file descriptors the process holds (sockets, files, pipes); 0 once it is gone."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


# TCP states as /proc/net/tcp writes them.
LISTEN, ESTABLISHED = "0A", "01"


@dataclass(frozen=True)
class TcpSocket:
    inode: int
    state: str  # LISTEN, ESTABLISHED...
    # Bytes not yet read; for a listening socket, connections waiting to be accepted.
    rx_queue: int
    # The other end's port (0 for a listening socket): which client a connection is.
    remote_port: int = 0


def tcp_sockets(port: int) -> list[TcpSocket]:
    """The machine's IPv4 and IPv6 TCP sockets whose local port is `port`."""
    found: list[TcpSocket] = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                rx_queue = int(fields[4].split(":")[1], 16)
                found.append(
                    TcpSocket(
                        inode=int(fields[9]),
                        state=fields[3],
                        rx_queue=rx_queue,
                        remote_port=int(fields[2].rsplit(":", 1)[1], 16),
                    )
                )
    return found


def socket_inodes(pid: int) -> set[int]:
    """The inodes of the sockets the process holds open (to match with tcp_sockets())."""
    inodes: set[int] = set()
    try:
        descriptors = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return inodes
    for fd in descriptors:
        try:
            target = fd.readlink().name
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[len("socket:[") : -1]))
    return inodes
