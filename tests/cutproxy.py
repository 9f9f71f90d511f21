"""A TCP relay on loopback that cuts every answer off after a given number of bytes: a network
that drops a download halfway, for the real tools to resume from (tests/test_tokens_live.py).

The cut is a clean close (FIN), as when a connection drops between two routers' keep-alives
ending: the client keeps every byte it was sent and sees the body end early. A reset (RST) would
be no better a test and could make the kernel drop bytes the client had not read yet."""

import socket
import threading
from types import TracebackType

# Every socket operation has a deadline: a stuck client or server never holds the relay.
TIMEOUT = 30.0


class CuttingProxy:
    def __init__(self, upstream_port: int, cut_after: int) -> None:
        self.upstream_port = upstream_port
        self.cut_after = cut_after
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port: int = self._listener.getsockname()[1]
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        client.settimeout(TIMEOUT)
        with client, socket.create_connection(("127.0.0.1", self.upstream_port), TIMEOUT) as up:
            threading.Thread(target=_pump, args=(client, up), daemon=True).start()
            sent = 0
            while sent < self.cut_after:
                data = up.recv(min(65536, self.cut_after - sent))
                if not data:
                    break
                client.sendall(data)
                sent += len(data)
            client.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._stopping.set()
        self._listener.close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "CuttingProxy":
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()


def _pump(source: socket.socket, target: socket.socket) -> None:
    """The client's request to the server, until either side is gone."""
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        return
