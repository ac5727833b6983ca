"""How the mock agent plays one prompt's turn: plan, chunks, tool calls (batch by batch, asking permission
where the settings say so), final plan, usage, the delay, then the answer or the crash. Stdlib only."""

from __future__ import annotations

import itertools
import os
import time
from typing import Any

from mock_acp.directives import PromptSettings
from mock_acp.permissions import Outgoing, ask
from mock_acp.prompts import Prompt, Stopped
from mock_acp.report import Reporter
from mock_acp.sessions import SessionStore
from mock_acp.wire import Output

GARBAGE_LINE = b"mock-acp garbage: this line is deliberately not JSON\n"
REJECT_MESSAGE = "mock injected failure"
TOOL_FAILURE = "mock tool failure"
TOOL_REJECTED = "mock tool call rejected by the permission answer"
CONTEXT_WINDOW_TOKENS = 131_072
CHARS_PER_TOKEN = 4


def chunktext_block(index: int, size: int) -> str:
    """Text of chunk `index`: ``chunk-<i>``, or exactly `size` characters when `size` > 0."""
    if size <= 0:
        return f"chunk-{index}"
    return filler(f"chunk-{index}|", size)


def filler(stem: str, size: int) -> str:
    """Exactly `size` characters made of `stem` repeated."""
    return (stem * (size // len(stem) + 1))[:size]


def text_block(text: str) -> dict[str, Any]:
    """An ACP text content block."""
    return {"type": "text", "text": text}


def _tokens(chars: int) -> int:
    return -(-chars // CHARS_PER_TOKEN)


class TurnPlayer:
    """Plays prompts: sends their updates, asks their permissions, remembers the turn in the session's history,
    reports it and answers it."""

    def __init__(self, out: Output, report: Reporter, outgoing: Outgoing, sessions: SessionStore) -> None:
        """Send through `out`, ask through `outgoing`, keep turns in `sessions`."""
        self.out = out
        self.report = report
        self.outgoing = outgoing
        self.sessions = sessions
        self._call_ids = itertools.count(1)

    def play(self, record: Prompt, settings: PromptSettings) -> None:
        """Play the prompt to its end (or its stop), keep and report the turn, answer the prompt."""
        outcome: dict[str, Any]
        try:
            self._plan(record, settings, "pending")
            self._stream_chunks(record, settings)
            self._tool_calls(record, settings)
            self._plan(record, settings, "completed")
            if settings.usage == "on":
                self._usage(record)
            record.pause(settings.end_delay_ms)
            outcome = self._finish(record, settings)
        except Stopped:
            outcome = {"stopReason": "cancelled"} if record.honours_cancel else {"stopReason": None}
        updates = list(record.updates)
        ticket = self.sessions.remember(record.session_id, updates)
        self.report.event(
            "prompt_finished",
            sessionId=record.session_id,
            requestId=record.msg_id,
            durationMs=round((time.monotonic() - record.started) * 1000, 3),
            sent=dict(record.sent),
            **outcome,
        )
        if outcome.get("stopReason"):
            self.out.result(record.msg_id, {"stopReason": outcome["stopReason"]})
        elif "error" in outcome:
            self.out.error(record.msg_id, outcome["error"], REJECT_MESSAGE)
        self.sessions.persist(record.session_id, ticket)

    def _send(self, record: Prompt, update: dict[str, Any], kind: str) -> None:
        self.out.update(record.session_id, update)
        record.keep(update)
        record.sent[kind] += 1

    def _stream_chunks(self, record: Prompt, settings: PromptSettings) -> None:
        """Send the chunks (`Stopped` when a cancel interrupts them)."""
        for index in range(settings.chunks):
            if index:
                record.pause(settings.chunk_delay_ms)
            elif record.stop.is_set():
                raise Stopped
            text = chunktext_block(index, settings.chunk_size)
            self._send(record, {"sessionUpdate": "agent_message_chunk", "content": text_block(text)}, "chunks")
            record.sent["outputChars"] += len(text)
            if index == 0 and settings.mode == "garbage":
                self.out.raw(GARBAGE_LINE)
        if settings.chunks == 0 and settings.mode == "garbage":
            self.out.raw(GARBAGE_LINE)

    def _plan(self, record: Prompt, settings: PromptSettings, status: str) -> None:
        if not settings.plan_entries:
            return
        entries = [
            {"content": f"mock step {i}", "priority": "medium", "status": status}
            for i in range(1, settings.plan_entries + 1)
        ]
        self._send(record, {"sessionUpdate": "plan", "entries": entries}, "planUpdates")

    def _usage(self, record: Prompt) -> None:
        """Send the turn's token figure: ACP ``used``/``size`` and the ``_meta.usage`` the daemon counts."""
        input_tokens = _tokens(record.sent["promptChars"])
        output_tokens = _tokens(record.sent["outputChars"])
        update = {
            "sessionUpdate": "usage_update",
            "used": input_tokens + output_tokens,
            "size": CONTEXT_WINDOW_TOKENS,
            "_meta": {
                "usage": {"inputTokens": input_tokens, "outputTokens": output_tokens},
                "durationMs": round((time.monotonic() - record.started) * 1000),
            },
        }
        self._send(record, update, "usageUpdates")

    def _tool_calls(self, record: Prompt, settings: PromptSettings) -> None:
        """The tool calls, `tool_batch` at a time: all announced (pending), their permission requests sent
        together and answered, then each run (in_progress, completed or failed) or failed when rejected."""
        for first in range(1, settings.tool_calls + 1, settings.tool_batch):
            record.pause(0)
            indexes = range(first, min(first + settings.tool_batch, settings.tool_calls + 1))
            calls = [self._announce(record, settings, index) for index in indexes]
            asked = [call for index, call in zip(indexes, calls, strict=True) if settings.asks_permission(index)]
            allowed = ask(self.outgoing, self.report, record, settings, asked)
            for index, call in zip(indexes, calls, strict=True):
                if call in asked and call["toolCallId"] not in allowed:
                    failed = {"sessionUpdate": "tool_call_update", "toolCallId": call["toolCallId"], "status": "failed"}
                    content = [{"type": "content", "content": text_block(TOOL_REJECTED)}]
                    self._send(record, {**failed, "content": content}, "toolCallsFailed")
                else:
                    self._run_tool(record, settings, index, call["toolCallId"])

    def _announce(self, record: Prompt, settings: PromptSettings, index: int) -> dict[str, Any]:
        call_id = f"call-{next(self._call_ids)}"
        title = f"mock {settings.tool_kind} tool #{index}"
        call = {"toolCallId": call_id, "title": title, "kind": settings.tool_kind, "status": "pending"}
        self._send(record, {"sessionUpdate": "tool_call", **call, "rawInput": {"index": index}}, "toolCalls")
        return call

    def _run_tool(self, record: Prompt, settings: PromptSettings, index: int, call_id: str) -> None:
        running = {"sessionUpdate": "tool_call_update", "toolCallId": call_id, "status": "in_progress"}
        self._send(record, running, "toolCallsRunning")
        record.pause(settings.tool_delay_ms)
        fails = bool(settings.tool_fail_every) and index % settings.tool_fail_every == 0
        final: dict[str, Any] = {
            "sessionUpdate": "tool_call_update",
            "toolCallId": call_id,
            "status": "failed" if fails else "completed",
        }
        if settings.tool_output_bytes:
            output = filler(f"{call_id} output|", settings.tool_output_bytes)
            final["content"] = [{"type": "content", "content": text_block(output)}]
            record.sent["outputChars"] += len(output)
        if fails:
            final["rawOutput"] = {"error": TOOL_FAILURE}
        self._send(record, final, "toolCallsFailed" if fails else "toolCallsCompleted")

    def _finish(self, record: Prompt, settings: PromptSettings) -> dict[str, Any]:
        """The final answer of a prompt (`Stopped` when a hang ends by a cancel)."""
        mode = settings.mode
        if mode == "crash-mid":
            self.report.event("exit", reason="crash-mid", sessionId=record.session_id)
            os._exit(1)
        if mode in ("hang", "hang-ignore-cancel"):
            record.stop.wait()
            raise Stopped
        if mode == "reject":
            return {"error": settings.error_code}
        return {"stopReason": "end_turn"}
