"""downloads/asgi.py in-process: a synchronous body becomes an asynchronous one, pulled a chunk at
a time off the event loop, and no chunk is counted as taken once the client is known gone."""

import asyncio
import threading

from django.http import FileResponse, StreamingHttpResponse

from downloads.asgi import _Connection, stream_asynchronously
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
