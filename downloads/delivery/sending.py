"""What a download's answer sends, said by whoever builds it, for the download log (downloadlog.py).

A delivery mode returns its response together with a `Sending`: the status the client gets, the
body bytes planned, and who moves them. Django's own response cannot say all of it: after an
X-Accel-Redirect nginx answers 206 where Django's response says 200, and after a redirect the
bucket sends bytes Django never sees.
"""

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from django.http.response import HttpResponseBase


class Mover(enum.Enum):
    """Who moves the file's bytes to the client."""

    # This process: the log counts what the server took when the body ends.
    APP = "app"
    # nginx after an X-Accel-Redirect, the bucket after a redirect to a presigned URL: Django
    # hands the download over and cannot know how many bytes arrive.
    NGINX = "nginx"
    BUCKET = "bucket"


class BytesTaken(Protocol):
    """Counts the bytes of a body the server has taken so far (storage.ByteSlice, TakenChunks)."""

    @property
    def bytes_taken(self) -> int: ...


@dataclass(frozen=True)
class Sending:
    # The status the client gets: nginx's 206 where Django's own response says 200; s3 mode's
    # redirect (the bucket then answers the URL by itself).
    status: int
    # Body bytes planned: the Content-Length of a body the app sends, or the file bytes asked of
    # nginx or the bucket (multipart framing not counted); 0 when no file bytes are to move.
    bytes_planned: int
    mover: Mover
    # A body the app sends: what counts the bytes taken, read when the body ends. None: nothing
    # to count (HEAD, 304, 412, 416, or the bytes are handed over).
    counter: BytesTaken | None = None
    # The storage could not give the bytes: an error page instead, no file byte left (faults.py).
    failed: bool = False


@dataclass(frozen=True)
class Delivery:
    """A download's response and what it sends."""

    response: HttpResponseBase
    sending: Sending

    @classmethod
    def failed(cls, response: HttpResponseBase) -> "Delivery":
        """An allowed download the storage could not serve: `response` is the app's error page."""
        return cls(response, Sending(response.status_code, 0, Mover.APP, failed=True))


class TakenChunks:
    """A generated body (several ranges, a zip) that counts the bytes the server took: a chunk
    counts once the server asks for the next one (or for the end), so the chunk in hand when the
    client leaves does not."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._in_hand = 0
        self.bytes_taken = 0
        self.finished = False

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        self.bytes_taken += self._in_hand
        self._in_hand = 0
        try:
            chunk = next(self._chunks)
        except StopIteration:
            self.finished = True
            raise
        self._in_hand = len(chunk)
        return chunk

    def close(self) -> None:
        # A response closes its body when the server is done with it: the generator's own
        # cleanup (an open file slice) must still run when this wrapper is the body.
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()
