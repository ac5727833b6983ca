"""The load generator's wire parsers (keywords.traffic.loadgen.wire) fed bytes directly, no socket.

What the daemon sends: a status line and headers, ``Content-Length`` bodies, chunked SSE bodies with one
frame per chunk (or several, or one split over reads), ``retry:`` and heartbeat comments without data.
"""

from __future__ import annotations

import asyncio

from keywords.traffic.loadgen.spec import WorkerSpec, add_lists
from keywords.traffic.loadgen.wire import HttpConnection, SseStream


def chunk(payload: bytes) -> bytes:
    return f"{len(payload):x}\r\n".encode() + payload + b"\r\n"


def stream() -> tuple[SseStream, list[bytes]]:
    got: list[bytes] = []
    sse = SseStream(1, "/session/s/events", lambda data, now: got.append(data))
    sse._time = lambda: 0.0
    return sse, got


def test_sse_frames_are_split_from_chunks_however_the_reads_fall():
    sse, got = stream()
    body = chunk(b"retry: 3000\n\n") + chunk(b'id: 1\nevent: a\ndata: {"n":1}\n\n')
    body += chunk(b": heartbeat\n\n") + chunk(b'id: 2\nevent: b\ndata: {"n":2}\n\nid: 3\nevent: c\ndata: {"n":3}\n\n')
    raw = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n" + body
    for i in range(0, len(raw), 7):  # seven bytes a read: heads, sizes and frames all cut
        sse.data_received(raw[i : i + 7])
    assert sse.status == 200
    assert got == [b'{"n":1}', b'{"n":2}', b'{"n":3}']  # retry and the heartbeat carry no data


def test_the_last_chunk_ends_the_stream_and_garbage_is_counted_not_guessed():
    sse, got = stream()
    sse.data_received(b"HTTP/1.1 200 OK\r\n\r\n" + chunk(b"data: {}\n\n") + b"0\r\n\r\n")
    assert got == [b"{}"]
    bad, _ = stream()
    bad.data_received(b"HTTP/1.1 200 OK\r\n\r\nzz\r\nnot chunked\r\n")
    assert bad.malformed == 1


def test_a_refused_subscription_reports_its_status():
    sse, got = stream()
    sse.data_received(b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}")
    assert sse.status == 404 and got == []


def test_a_response_is_read_once_its_whole_body_is_in():
    async def run() -> tuple[int, bytes]:
        conn = HttpConnection(1)
        waiter = conn._waiter = asyncio.get_running_loop().create_future()
        raw = b'HTTP/1.1 202 Accepted\r\nContent-Length: 15\r\nX: y\r\n\r\n{"promptId":"p"}'
        conn.data_received(raw[:30])
        assert not waiter.done()
        conn.data_received(raw[30:])
        return await waiter

    status, body = asyncio.run(run())
    assert status == 202 and body == b'{"promptId":"p"'  # exactly Content-Length bytes


def test_each_arrival_belongs_to_exactly_one_process():
    sessions = [f"s{j}" for j in range(5)]
    specs = [WorkerSpec(index=k, processes=3, kind="prompt", port=1, token=None, rate=1, arrivals=100,
                        session_ids=sessions) for k in range(3)]  # fmt: skip
    owners = [[k for k, spec in enumerate(specs) if spec.owns(i)] for i in range(100)]
    assert all(len(o) == 1 for o in owners)
    # an arrival goes to its session's owner, so every frame of a session is read by the process that sent to it
    assert all(specs[o[0]].owner_of_session(i % 5) == o[0] for i, o in enumerate(owners))
    assert sorted(sid for spec in specs for sid in spec.own_sessions()) == sorted(sessions)
    lifecycle = [WorkerSpec(index=k, processes=2, kind="lifecycle", port=1, token=None, rate=1, arrivals=10)
                 for k in range(2)]  # fmt: skip
    assert [i for i in range(10) if lifecycle[1].owns(i)] == [1, 3, 5, 7, 9]
    assert WorkerSpec.loads(specs[0].dumps()) == specs[0]
    assert add_lists([1, 2], [3, 4, 5]) == [4, 6, 5]
