"""downloads/asgi.py in-process: a synchronous body becomes an asynchronous one, pulled a chunk at
a time off the event loop, and no chunk is counted as taken once the client is known gone."""

import asyncio
import threading

from asgiref.sync import sync_to_async
from django.http import FileResponse, StreamingHttpResponse

from downloads.asgi import StreamingASGIHandler, _Connection, stream_asynchronously
from downloads.delivery.sending import TakenChunks

CHUNK = b"x" * 1000


def collect(
    response: StreamingHttpResponse, connection: _Connection, stop_after: int | None = None
) -> list[bytes]:
    """The async body's chunks; with `stop_after`, the client "leaves" after that many."""

    async def run() -> list[bytes]:
        got: list[bytes] = []
        async for chunk in response:
            got.append(chunk)
            if stop_after is not None and len(got) == stop_after:
                connection.gone = True
        return got

    return asyncio.run(run())


def streamed(response: StreamingHttpResponse) -> tuple[StreamingHttpResponse, _Connection]:
    connection = _Connection()
    stream_asynchronously(response, connection)
    return response, connection


def test_a_sync_body_is_pulled_a_chunk_at_a_time_off_the_event_loop():
    pulled_in: set[int] = set()

    def body():
        for _ in range(5):
            pulled_in.add(threading.get_ident())
            yield CHUNK

    response, _ = streamed(StreamingHttpResponse(body()))
    assert response.is_async
    loop_thread: set[int] = set()

    async def run() -> list[bytes]:
        loop_thread.add(threading.get_ident())
        return [chunk async for chunk in response]

    assert asyncio.run(run()) == [CHUNK] * 5
    assert pulled_in
    assert not pulled_in & loop_thread


def test_a_file_response_streams_its_file_in_block_size_reads(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(bytes(range(256)) * 100)
    file_response = FileResponse(path.open("rb"))
    file_response.block_size = 4096
    response, connection = streamed(file_response)
    chunks = collect(response, connection)
    assert b"".join(chunks) == path.read_bytes()
    assert [len(chunk) for chunk in chunks[:-1]] == [4096] * (len(chunks) - 1)
    response.close()


def test_after_a_disconnect_nothing_more_is_sent_or_counted_past_the_chunk_going_out():
    taken = TakenChunks(iter([CHUNK] * 10))
    response, connection = streamed(StreamingHttpResponse(taken))
    got = collect(response, connection, stop_after=3)
    assert len(got) == 3
    # The third was going out when the client left: part of it may have reached them, and the
    # log never says less than the client got. Nothing after it is sent or counted.
    assert taken.bytes_taken == 3 * len(CHUNK)
    assert not taken.finished


def test_an_async_body_is_left_alone():
    async def body():
        yield CHUNK

    response = StreamingHttpResponse(body())
    iterator = response._iterator
    stream_asynchronously(response, _Connection())
    assert response._iterator is iterator


class _CutOffHandler(StreamingASGIHandler):
    """The real handler, with a view that answers `body` and notes what was taken at close()."""

    def __init__(self, body: TakenChunks) -> None:
        super().__init__()
        self.body = body
        self.taken_at_close: int | None = None

    async def get_response_async(self, request):
        response = StreamingHttpResponse(self.body)

        def note_taken() -> None:
            self.taken_at_close = self.body.bytes_taken

        response._resource_closers.append(note_taken)
        return response


HTTP_GET = {
    "type": "http",
    "method": "GET",
    "path": "/",
    "query_string": b"",
    "headers": [],
    "server": ("testserver", 80),
}


def test_the_chunk_going_out_when_the_client_leaves_is_counted_before_the_response_closes():
    # The client leaves while the third chunk is being sent: the server's send() never returns,
    # and Django cancels the sending task. The download log writes its row at close(), so the
    # third chunk must be counted by then, not when a generator is garbage-collected later.
    body = TakenChunks(iter([CHUNK] * 10))
    handler = _CutOffHandler(body)

    async def run() -> list[dict]:
        sent: list[dict] = []
        stalled = asyncio.Event()
        requests = iter([{"type": "http.request", "body": b"", "more_body": False}])

        async def receive() -> dict:
            message = next(requests, None)
            if message is not None:
                return message
            await stalled.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            sent.append(message)
            if message["type"] == "http.response.body" and len(sent) == 4:
                stalled.set()
                await asyncio.Event().wait()

        await handler(HTTP_GET, receive, send)
        return sent

    sent = asyncio.run(run())
    assert [len(message.get("body", b"")) for message in sent[1:]] == [len(CHUNK)] * 3
    assert handler.taken_at_close == 3 * len(CHUNK)
    assert not body.finished


def test_a_pull_waiting_its_turn_when_the_client_leaves_still_counts_the_chunk_before_it():
    # The request's thread is busy when the next pull is asked for, and the client leaves
    # before that pull starts: cancelled, asgiref would drop it, and with it the count of the
    # third chunk, which the client may have got. The pull must run and count before close().
    body = TakenChunks(iter([CHUNK] * 10))
    handler = _CutOffHandler(body)
    thread_free = threading.Event()

    async def run() -> list[dict]:
        sent: list[dict] = []
        third_sent = asyncio.Event()
        busy: list[asyncio.Future] = []
        requests = iter([{"type": "http.request", "body": b"", "more_body": False}])

        async def receive() -> dict:
            message = next(requests, None)
            if message is not None:
                return message
            await third_sent.wait()
            # Long enough for the next pull to be asked for and queued behind the busy thread.
            await asyncio.sleep(0.05)
            asyncio.get_running_loop().call_later(0.1, thread_free.set)
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            sent.append(message)
            if message["type"] == "http.response.body" and len(sent) == 4:
                # Something else of this request's holds its thread for a while.
                busy.append(
                    asyncio.ensure_future(sync_to_async(thread_free.wait, thread_sensitive=True)())
                )
                third_sent.set()

        await handler(HTTP_GET, receive, send)
        return sent

    sent = asyncio.run(run())
    assert [len(message.get("body", b"")) for message in sent[1:4]] == [len(CHUNK)] * 3
    assert handler.taken_at_close == 3 * len(CHUNK)
    assert not body.finished
