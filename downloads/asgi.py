"""Serving under ASGI without reading a body whole: Django's ASGIHandler, with every synchronous
streaming body turned into an asynchronous one pulled a chunk at a time.

Django's ASGIHandler consumes a synchronous streaming body with `sync_to_async(list)`: a
FileResponse, several ranges, a zip or a CSV export would sit whole in memory before the first
byte left. Here the response is the very one the WSGI path sends (the same view, decision,
headers and counters: downloads/delivery/), only its body is pulled one chunk per
`sync_to_async` call, in the request's own thread (Django gives each ASGI request one, where
its view ran and its database connection lives: a CSV export's open cursor, a zip's files).
The server's flow control then holds the next chunk back until the client takes the last one.

The download log counts a chunk once the next one is asked for (delivery/sending.py, storage.py),
and writes its row when the response closes. Two things then need care under ASGI:
- uvicorn's `send()` returns quietly once the client has gone, so a chunk "sent" after that must
  not be counted: the handler notes the disconnect (which Django listens for anyway) and the body
  stops.
- The chunk that was going out when the client left is counted (part of it may have reached
  them; the log's rule is "at least what the client got"), one read after the disconnect is not.
  That count must be made before Django closes the response, whichever way sending ended: Django
  cancels the sending task on a disconnect and closes only the outermost of the generators it
  wraps the body in, so a generator's own `finally` would run at garbage collection, after the
  row was written. The body is therefore an object with an explicit `finish()`, awaited by
  `send_response` on every way out.
"""

import asyncio
import contextvars
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import django
from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.http import HttpRequest
from django.http.response import FileResponse, HttpResponseBase, StreamingHttpResponse

Receive = Callable[[], Awaitable[Mapping[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]


def _next_chunk(chunks: Iterator[bytes]) -> bytes | None:
    return next(chunks, None)


class PulledBody:
    """A synchronous body as an asynchronous iterator: each chunk pulled in the request's
    thread, none once the client is known gone."""

    def __init__(self, chunks: Iterator[bytes], connection: "_Connection") -> None:
        self._chunks = chunks
        self._connection = connection
        self._pull = sync_to_async(_next_chunk, thread_sensitive=True)
        # A chunk handed to the server that no pull has been seen to count yet.
        self._in_flight = False
        self._ended = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        if not self._ended:
            # Let a disconnect noticed while the last chunk was sent be heard before going on.
            await asyncio.sleep(0)
        if self._ended or self._connection.gone:
            await self.finish()
            raise StopAsyncIteration
        chunk = await self._pull(self._chunks)
        # Only a pull that returned is known to have counted the chunk in flight: cancelled
        # before it started, asgiref drops it, and finish() must count that chunk.
        self._in_flight = False
        if chunk is None or self._connection.gone:  # gone while it was read: never goes out
            self._ended = True
            raise StopAsyncIteration
        self._in_flight = True
        return chunk

    async def finish(self) -> None:
        """Count the chunk going out when sending stopped, and pull no more. The client left
        (the disconnect was heard, or the sending task was cancelled) while it was going out:
        part of it may have reached them, as the kernel's buffers do under WSGI. Asking for the
        next chunk is what counts the last one as taken; the one pulled is never sent."""
        self._ended = True
        if self._in_flight:
            # A pull cancelled after it ran (asgiref then raises all the same) has counted the
            # chunk already; this one then counts the next too: one chunk over, never under.
            self._in_flight = False
            await self._pull(self._chunks)


@dataclass
class _Connection:
    gone: bool = False
    # The body being sent on this connection, finished before the response is closed.
    body: PulledBody | None = None


_connection: contextvars.ContextVar[_Connection] = contextvars.ContextVar("asgi_connection")


def stream_asynchronously(response: HttpResponseBase, connection: _Connection) -> None:
    """Give a streaming response with a synchronous body an asynchronous one, in place."""
    if not isinstance(response, StreamingHttpResponse) or response.is_async:
        return
    # streaming_content maps the iterator through make_bytes; the body's closers (a file, a
    # generator, the download log's row) stay registered and run at close() as before.
    chunks = iter(response.streaming_content)  # type: ignore[arg-type]
    connection.body = PulledBody(chunks, connection)
    response.streaming_content = connection.body


class StreamingASGIHandler(ASGIHandler):
    async def handle(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        token = _connection.set(_Connection())
        try:
            await super().handle(scope, receive, send)
        finally:
            _connection.reset(token)

    async def listen_for_disconnect(self, receive: Receive) -> None:
        try:
            await super().listen_for_disconnect(receive)
        finally:
            # Cancelled (the response was sent) or the client left: either way no more sending.
            _connection.get().gone = True

    async def run_get_response(self, request: HttpRequest) -> HttpResponseBase:
        response: HttpResponseBase = await super().run_get_response(request)
        if isinstance(response, FileResponse):
            # Imported here: this module is imported before django.setup() (project/asgi.py).
            from downloads.delivery.app import CHUNK_SIZE

            # Django sets its own 64 KiB here; the app reads files as under WSGI (one chunk per
            # pull, which the handler sends in 64 KiB messages).
            response.block_size = CHUNK_SIZE
        stream_asynchronously(response, _connection.get())
        return response

    async def send_response(self, response: HttpResponseBase, send: Send) -> None:
        try:
            await super().send_response(response, send)
        finally:
            # Sent, cut off or cancelled: Django closes the response (and the download log
            # writes its row) only after this returns.
            body = _connection.get().body
            if body is not None:
                await body.finish()


def get_asgi_application() -> StreamingASGIHandler:
    """As django.core.asgi.get_asgi_application(), with the streaming handler."""
    django.setup(set_prefix=False)
    return StreamingASGIHandler()
