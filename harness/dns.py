"""A DNS server on a loopback UDP port: A queries for `names` get 127.0.0.1, others NXDOMAIN.

It stands in for a deployment's name server, so nginx's `resolver` is exercised for real.
"""

import socket
import struct
import threading


class LoopbackDNS:
    def __init__(self, names: set[str]) -> None:
        self.names = names
        self.asked: list[str] = []
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                query, client = self._socket.recvfrom(512)
            except OSError:
                return  # closed
            self._socket.sendto(self._answer(query), client)

    def _answer(self, query: bytes) -> bytes:
        labels: list[str] = []
        position = 12
        while query[position]:
            length = query[position]
            labels.append(query[position + 1 : position + 1 + length].decode("ascii"))
            position += 1 + length
        question = query[12 : position + 5]
        name = ".".join(labels).lower()
        qtype = int.from_bytes(query[position + 1 : position + 3], "big")
        self.asked.append(name)
        known = name in self.names
        answers = 1 if known and qtype == 1 else 0
        flags = 0x8180 if known else 0x8183  # a response; recursion available; NXDOMAIN
        header = query[:2] + struct.pack(">HHHHH", flags, 1, answers, 0, 0)
        record = b""
        if answers:
            # A pointer to the question's name, type A, class IN, TTL 60, 4 bytes: 127.0.0.1.
            record = struct.pack(">HHHIH", 0xC00C, 1, 1, 60, 4) + bytes([127, 0, 0, 1])
        return header + question + record

    def close(self) -> None:
        self._socket.close()
