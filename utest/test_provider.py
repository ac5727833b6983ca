"""The fake OpenAI-compatible provider: streaming, non-streaming, timing, request log and fault modes."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest

from keywords.fakes.provider import FakeProvider, ProviderBehaviour, ProviderConfigError, stats
from keywords.fakes.real_agent import settings


@pytest.fixture
def provider():
    p = FakeProvider(ProviderBehaviour(reply="hello world", chunks=3)).start()
    yield p
    p.stop()


def _chat(provider, stream=True, timeout=10.0):
    body = {"model": "fake-model", "stream": stream, "messages": [{"role": "user", "content": "say hi"}], "tools": []}
    return httpx.post(f"{provider.base_url}/chat/completions", json=body, timeout=timeout)


def _frames(text):
    return [line[6:] for line in text.splitlines() if line.startswith("data: ")]


def test_streaming_reply_in_chunks(provider):
    r = _chat(provider)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    frames = _frames(r.text)
    assert frames[-1] == "[DONE]"
    chunks = [json.loads(f) for f in frames[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == "hello world"
    assert sum(1 for c in chunks if c["choices"][0]["delta"].get("content")) == 3
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_non_streaming_reply(provider):
    r = _chat(provider, stream=False)
    body = r.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["content"] == "hello world"


def test_request_log_and_counts(provider):
    before = time.monotonic()
    _chat(provider)
    _chat(provider, stream=False)
    reqs = provider.requests()
    assert [r.index for r in reqs] == [1, 2]
    assert reqs[0].stream and not reqs[1].stream
    assert reqs[0].last_user_text == "say hi"
    assert reqs[0].at_monotonic >= before
    assert reqs[0].done_monotonic is not None
    assert provider.request_count == 2
    assert stats(provider).by_status == {200: 2}
    provider.reset_requests()
    assert provider.request_count == 0


def test_time_to_first_token_and_chunk_delay(provider):
    provider.configure(first_token_ms=200, chunk_delay_ms=50, chunks=3)
    started = time.monotonic()
    _chat(provider)
    assert time.monotonic() - started >= 0.29


@pytest.mark.parametrize(("fault", "status"), [("http500", 500), ("http429", 429)])
def test_http_faults(provider, fault, status):
    provider.configure(fault=fault)
    r = _chat(provider)
    assert r.status_code == status
    assert "error" in r.json()
    if status == 429:
        assert r.headers["retry-after"] == "1"
    assert provider.requests()[0].status == status


def test_stall_holds_until_stop():
    p = FakeProvider(ProviderBehaviour(fault="stall")).start()
    got = {}

    def call():
        try:
            got["r"] = _chat(p, timeout=10)
        except httpx.HTTPError as exc:
            got["err"] = exc

    t = threading.Thread(target=call)
    t.start()
    assert p.wait_for_requests(1, timeout_s=5)
    time.sleep(0.3)
    assert t.is_alive(), "a stalled stream must not finish on its own"
    p.stop()
    t.join(10)
    assert not t.is_alive()
    assert p.requests()[0].done_monotonic is None


def test_bad_settings_are_refused(provider):
    with pytest.raises(ProviderConfigError):
        provider.configure(fault="teapot")
    with pytest.raises(ProviderConfigError):
        provider.configure(chunks=0)
    with pytest.raises(ProviderConfigError):
        provider.configure(colour="red")


def test_pieces_split_evenly():
    assert ProviderBehaviour(reply="abcdefg", chunks=3).pieces() == ["abc", "de", "fg"]
    assert ProviderBehaviour(reply="ab", chunks=5).pieces() == ["a", "b"]


def test_models_route(provider):
    r = httpx.get(f"{provider.base_url}/models")
    assert r.json()["data"][0]["id"] == "fake-model"


def test_settings_for_the_real_child():
    env, files = settings("http://127.0.0.1:9/v1", "m1", {"a": {"command": "python3", "args": []}}, {"maxRetries": 1})
    assert env["OPENAI_BASE_URL"] == "http://127.0.0.1:9/v1"
    assert env["OPENAI_MODEL"] == "m1" and env["OPENAI_API_KEY"]
    assert env["QWEN_TELEMETRY_ENABLED"] == "false"
    user = json.loads(files[".qwen/settings.json"])
    assert user["security"]["auth"]["selectedType"] == "openai"
    assert user["model"] == {"name": "m1", "generationConfig": {"maxRetries": 1}}
    assert user["mcpServers"]["a"]["command"] == "python3"
    with pytest.raises(ProviderConfigError):
        settings("http://example.com/v1")
    with pytest.raises(ProviderConfigError):
        settings(None, mcp_servers={"x": {"args": []}})
