"""Keywords for load scenarios: lifecycle cycles, concurrent bursts, background load, evictions in the log."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from robotlibcore import keyword

from keywords import checks
from keywords.components.component import Component
from keywords.daemon.daemon_log import EvictionLogRecord, wait_for_eviction
from keywords.errors import HarnessConfigError
from keywords.fakes import mock_control
from keywords.traffic import flows
from keywords.traffic.background_load import BackgroundLoad, BackgroundLoadResult
from keywords.traffic.client import PromptAccepted
from keywords.traffic.turns import follow_turn


class FlowKeywords(Component):
    """Run create → prompt → close flows (sequential or concurrent), keep sessions busy, confirm evictions."""

    @keyword(tags=("load", "session"))
    def warm_up_daemon(self, *, daemon: str | None = None) -> str:
        """Open a thread session and run one prompt on it, as upstream's warm-up; the session stays open.

        The warm-up session counts toward ``--max-sessions``.

        Returns:
            The warm-up session's id.

        Example:
            | ${anchor}= | Warm Up Daemon |
        """
        client = self.ctx.get(daemon).client
        sid = client.create_session("thread").session_id
        accepted = client.prompt(sid, "warmup")
        turn = follow_turn(client, sid, accepted, timeout_s=30.0)
        if turn.outcome != "completed":
            raise AssertionError(f"The warm-up prompt should have completed, but it did not: {turn.summary()}.")
        return sid

    @keyword(tags=("load",))
    def run_lifecycle_cycles(
        self, cycles: int = 20, *, chunks: int = 3, timeout: timedelta | float = 30.0, daemon: str | None = None
    ) -> flows.FlowBatch:
        """Run create(thread) → prompt → turn end → close → status cycles one after another.

        Each flow records its session, prompt id, how the turn ended (and the ``promptId`` of the end frame),
        its chunks and ``session_update`` count, the DELETE status, the status after the close and its
        timings. Flows never stop the batch; check them with `Flows Should All Be Correct`.

        Args:
            cycles: Number of cycles (1..1000).
            chunks: Agent chunks per prompt (sent as a mock directive).
            timeout: Bound on each turn: seconds or a Robot time (``30 s``).

        Returns:
            ``FlowBatch``: ``mode``, ``records`` (one ``FlowRecord`` per flow), ``chunks``, ``wall_ms``,
            ``latency`` (whole cycle), ``turn_latency``, ``create_latency`` (latency summaries, ms), ``count``,
            ``success_count``, ``failure_count``, ``failures``, ``prompt_count``, ``failed_prompt_count``;
            ``line()`` for the test message, ``figures()`` for the snapshot.

        Example:
            | ${batch}= | Run Lifecycle Cycles | 20 | chunks=3 |
            | Flows Should All Be Correct | ${batch} |
        """
        return self._run_batch(flows.run_sequential, cycles, chunks, timeout, daemon)

    @keyword(tags=("load",))
    def run_concurrent_flows(
        self,
        count: int = 10,
        *,
        chunks: int = 3,
        timeout: timedelta | float = 30.0,
        prompts: int = 1,
        daemon: str | None = None,
    ) -> flows.FlowBatch:
        """Start N create → prompt → turn end → close flows at the same moment (released by one barrier).

        With ``prompts`` above 1, each flow sends that many prompts one after another on its session (the
        flows still run side by side); every turn is timed from its own POST to its own end frame. Each flow's
        prompting is bounded by ``prompts + 3`` times ``timeout`` (at least 60 s). If the flows cannot all be
        released together, the keyword fails.

        Args:
            count: Number of concurrent flows (1..1000).
            chunks: Agent chunks per prompt.
            timeout: Bound on each turn: seconds or a Robot time (``30 s``).
            prompts: Prompts per flow (1..1000).

        Returns:
            ``FlowBatch`` as for `Run Lifecycle Cycles`; ``good_turns()`` lists every correct turn (each
            with ``turn_ms`` and ``update_times``).

        Example:
            | ${batch}= | Run Concurrent Flows | 50 | chunks=3 |
            | ${batch}= | Run Concurrent Flows | 10 | chunks=3 | prompts=5 |
            | Flows Should All Be Correct | ${batch} |
        """
        return self._run_batch(flows.run_concurrent, count, chunks, timeout, daemon, prompts=prompts)

    def _run_batch(
        self, run: Callable[..., flows.FlowBatch], count: int, chunks: int, timeout: Any, daemon: str | None, **extra
    ) -> flows.FlowBatch:
        """Run a batch of ``count`` flows whose prompts ask the mock for ``chunks`` chunks; log its line."""
        prefix = mock_control.directive(chunks=chunks)
        timeout_s = checks.seconds("timeout", timeout)
        batch = run(self.ctx.get(daemon).client, count, chunks=chunks, prefix=prefix, timeout_s=timeout_s, **extra)
        return self.reported(batch)

    @keyword(tags=("load", "assertion"))
    def flows_should_all_be_correct(self, batch: flows.FlowBatch) -> None:
        """Fail unless every flow met the contract.

        The contract: no request failed; the turn ended with ``turn_complete`` ``end_turn`` carrying that
        prompt's ``promptId``; it had exactly ``chunks`` agent chunks and ``chunks + 1`` ``session_update``
        events (the daemon's echo of the prompt plus the chunks); DELETE answered 204; the status route then
        answered 404.

        Args:
            batch: From `Run Lifecycle Cycles` or `Run Concurrent Flows`.

        Example:
            | Flows Should All Be Correct | ${batch} |
        """
        for rec in batch.records:
            last = rec.last_turn
            self.info(
                f"flow {rec.index} {rec.session_id}: {len(rec.turns)} turns, last {last.outcome} "
                f"{last.stop_reason or ''} chunks {last.chunks} updates {last.session_updates} "
                f"close {rec.close_status} after {rec.after_close_status} total {rec.total_ms or 0:.1f} ms"
            )
        if batch.failure_count:
            raise AssertionError(
                f"Every flow should have met the contract, but {batch.failure_count} of {batch.count} broke it:\n"
                f"{batch.failure_report()}"
            )

    @keyword(tags=("load",))
    def start_background_load(
        self,
        sessions: int = 4,
        *,
        chunks: int = 50,
        chunk_size: int = 0,
        max_seconds: timedelta | float = 60.0,
        daemon: str | None = None,
    ) -> BackgroundLoad:
        """Keep other sessions busy: ``sessions`` workers, released together, each prompt a session in a loop.

        Stop it with `Stop Background Load` (stopping the daemon also stops it).

        Args:
            sessions: Busy sessions, one thread each (1..1000).
            chunks: Agent chunks per prompt.
            chunk_size: Characters per chunk (0 = short texts).
            max_seconds: Bound on the load's life: seconds or a Robot time (``1 min``).

        Returns:
            The running ``BackgroundLoad`` (``${load.turns}``: turns completed so far).

        Example:
            | ${load}= | Start Background Load | 4 | chunks=100 |
            | Wait Until Background Load Is Busy | ${load} |
            | ${done}= | Stop Background Load | ${load} |
        """
        running = self.ctx.get(daemon)
        text = mock_control.directive(chunks=chunks, chunk_size=chunk_size) + "background load"
        load = BackgroundLoad(running.client, sessions, text, max_s=checks.seconds("max_seconds", max_seconds))
        running.daemon.on_stop(load.request_stop)
        return load.start()

    @keyword(tags=("load",))
    def wait_until_background_load_is_busy(self, load: BackgroundLoad, *, timeout: timedelta | float = 10.0) -> None:
        """Wait until the load completed its first turn (so it is running), or fail.

        Args:
            load: From `Start Background Load`.
            timeout: How long to wait: seconds or a Robot time (``10 s``).

        Example:
            | Wait Until Background Load Is Busy | ${load} |
        """
        timeout_s = checks.seconds("timeout", timeout, high=600)
        if not load.first_turn.wait(timeout_s):
            raise AssertionError(
                f"The background load should have completed a turn within {timeout_s:g} s, but it completed "
                f"none. Failures: {load.failures_so_far() or 'none'}."
            )

    @keyword(tags=("load",))
    def stop_background_load(self, load: BackgroundLoad, *, timeout: timedelta | float = 30.0) -> BackgroundLoadResult:
        """Stop the load (each worker finishes its turn and closes its session) and return what it did.

        Fails when the workers could not be released together at the start.

        Args:
            load: From `Start Background Load`.
            timeout: How long to wait for the workers: seconds or a Robot time (``30 s``).

        Returns:
            ``BackgroundLoadResult``: ``sessions``, ``turns``, ``failures``, ``frames``, ``elapsed_ms``;
            ``line()`` for the test message, ``figures()`` for the snapshot.

        Example:
            | ${done}= | Stop Background Load | ${load} |
            | Should Be Empty | ${done.failures} |
        """
        result = load.stop(checks.seconds("timeout", timeout, high=600))
        self.info(result.line() + "".join(f"\n  {f}" for f in result.failures[:10]))
        return result

    @keyword(tags=("events", "logs"))
    def wait_for_eviction_in_daemon_log(
        self,
        session_id: str | None = None,
        *,
        stream_id: str | None = None,
        timeout: timedelta | float = 10.0,
        reason: str | None = None,
        after: PromptAccepted | None = None,
        daemon: str | None = None,
    ) -> EvictionLogRecord:
        """Wait until the daemon's log records ``SSE client evicted`` for this session (and subscriber stream).

        The library owns the daemon's HOME, so it reads the daemon's own log file. A stalled reader usually
        never receives the ``client_evicted`` frame (the daemon destroys the socket behind a full kernel
        buffer), so this line is the daemon's word that it evicted the subscriber.

        Args:
            session_id: Only evictions of this session.
            stream_id: Only this subscriber (``${stream.stream_id}``, the ``X-Qwen-SSE-Stream-Id`` header).
            timeout: How long to wait: seconds or a Robot time (``10 s``).
            reason: Fail unless the recorded reason is this one (``queue_overflow``...).
            after: The prompt's 202 answer (from `Send Prompt`); the record then carries
                ``ms_after_prompt``, the time from that prompt's POST to the eviction's detection.

        Returns:
            ``EvictionLogRecord``: ``reason``, ``dropped_after``, ``queue_size``, ``max_queued``,
            ``queued_bytes``, ``stream_id``, ``session_id``, ``timestamp``, ``log_line``, ``detected_at``,
            ``ms_after_prompt``; ``line()`` for the test message, ``figures()`` for the snapshot.

        Example:
            | ${evicted}= | Wait For Eviction In Daemon Log | ${sid} | reason=queue_overflow |
            | ${evicted}= | Wait For Eviction In Daemon Log | ${sid} | stream_id=${id} | after=${accepted} |
        """
        if not session_id and not stream_id:
            raise HarnessConfigError("Give a session_id or a stream_id: an eviction must be tied to a subscriber.")
        if after is not None and not isinstance(after, PromptAccepted):
            raise HarnessConfigError(f"after must be the answer of `Send Prompt`, got {after!r}.")
        timeout_s = checks.seconds("timeout", timeout, high=600)
        running = self.ctx.get(daemon)
        posted_at = after.posted_at if after is not None else None
        record = wait_for_eviction(
            running.daemon.daemon_log_lines, session_id, stream_id, timeout_s=timeout_s, prompt_posted_at=posted_at
        )
        if record is None:
            lines = running.daemon.daemon_log_lines("SSE (slow client|client evicted|stream closed)")
            raise AssertionError(
                f"The daemon's log should have recorded an eviction of session {session_id} stream {stream_id} "
                f"within {timeout_s:g} s, but it recorded none. SSE lines:\n" + "\n".join(lines[-10:])
            )
        self.info(f"Daemon log: {record.log_line}")
        if reason is not None and record.reason != reason:
            raise AssertionError(
                f"The daemon should have evicted the subscriber for {reason!r}, but it did for {record.reason!r}."
            )
        return record
