"""Keywords for load scenarios: lifecycle cycles, concurrent bursts, background load, evictions in the log."""

from __future__ import annotations

from robotlibcore import keyword

from keywords.components.base import Component
from keywords.errors import HarnessConfigError
from keywords.fakes import mock_control
from keywords.traffic import flows
from keywords.traffic.turns import follow_turn


class FlowKeywords(Component):
    """Run create → prompt → close flows (sequential or concurrent), keep sessions busy, confirm evictions."""

    @keyword(tags=("load", "session"))
    def warm_up_daemon(self, daemon: str | None = None) -> str:
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
            raise AssertionError(f"The warm-up prompt did not complete: {turn.summary()}.")
        return sid

    @keyword(tags=("load",))
    def run_lifecycle_cycles(
        self, cycles: int = 20, chunks: int = 3, timeout: float = 30.0, daemon: str | None = None
    ) -> flows.FlowBatch:
        """Run create(thread) → prompt → turn end → close → status cycles one after another.

        Each flow records its session, prompt id, how the turn ended (and the ``promptId`` of the end frame),
        its chunks and ``session_update`` count, the DELETE status, the status after the close and its
        timings. Flows never stop the batch; check them with `Flows Should All Be Correct`.

        Args:
            cycles: Number of cycles.
            chunks: Agent chunks per prompt (sent as a mock directive).
            timeout: Bound on each turn in seconds.

        Returns:
            ``FlowBatch``: ``records``, ``latency`` (whole cycle), ``turn_latency``, ``create_latency``,
            ``success_count``, ``failure_count``, ``wall_ms``, ``line()``.

        Example:
            | ${batch}= | Run Lifecycle Cycles | 20 | chunks=3 |
            | Flows Should All Be Correct | ${batch} |
        """
        client = self.ctx.get(daemon).client
        batch = flows.run_sequential(
            client,
            int(cycles),
            chunks=int(chunks),
            prefix=mock_control.directive(chunks=int(chunks)),
            timeout_s=timeout,
        )
        self.info(batch.line())
        return batch

    @keyword(tags=("load",))
    def run_concurrent_flows(
        self, count: int = 10, chunks: int = 3, timeout: float = 30.0, prompts: int = 1, daemon: str | None = None
    ) -> flows.FlowBatch:
        """Start N create → prompt → turn end → close flows at the same moment (threads behind a barrier).

        With ``prompts`` above 1, each flow sends that many prompts one after another on its session (the
        flows still run side by side); every turn is timed from its own POST to its own end frame.

        Args:
            count: Number of concurrent flows.
            chunks: Agent chunks per prompt.
            timeout: Bound on each turn in seconds (the whole batch gets ``prompts + 3`` times that, at least
                60 s).
            prompts: Prompts per flow.

        Returns:
            ``FlowBatch`` as for `Run Lifecycle Cycles`, plus ``prompt_count``, ``failed_prompt_count`` and
            ``good_turns()`` (each turn's ``turn_ms`` and ``update_times``).

        Example:
            | ${batch}= | Run Concurrent Flows | 50 | chunks=3 |
            | ${batch}= | Run Concurrent Flows | 10 | chunks=3 | prompts=5 |
            | Flows Should All Be Correct | ${batch} |
        """
        client = self.ctx.get(daemon).client
        batch = flows.run_concurrent(
            client,
            int(count),
            chunks=int(chunks),
            prefix=mock_control.directive(chunks=int(chunks)),
            timeout_s=timeout,
            join_timeout_s=max(60.0, (int(prompts) + 3) * timeout),
            prompts=int(prompts),
        )
        self.info(batch.line())
        return batch

    @keyword(tags=("load", "assertion"))
    def flows_should_all_be_correct(self, batch: flows.FlowBatch) -> None:
        """Fail unless every flow met the contract.

        The contract: no request failed; the turn ended with ``turn_complete`` ``end_turn`` carrying that
        prompt's ``promptId``; it had exactly ``chunks`` agent chunks and ``chunks + 1`` ``session_update``
        events (the daemon's echo of the prompt plus the chunks); DELETE answered 204; the status route then
        answered 404.

        Example:
            | Flows Should All Be Correct | ${batch} |
        """
        for rec in batch.records:
            self.info(
                f"flow {rec.index} {rec.session_id}: {rec.outcome} {rec.stop_reason or ''} "
                f"chunks {rec.chunks} updates {rec.session_updates} close {rec.close_status} "
                f"after {rec.after_close_status} total {rec.total_ms or 0:.1f} ms"
            )
        if batch.failure_count:
            raise AssertionError(
                f"{batch.failure_count} of {batch.count} flows broke the contract:\n{batch.failure_report()}"
            )

    @keyword(tags=("load",))
    def start_background_load(
        self,
        sessions: int = 4,
        chunks: int = 50,
        chunk_size: int = 0,
        max_seconds: float = 60.0,
        daemon: str | None = None,
    ) -> flows.BackgroundLoad:
        """Keep other sessions busy: each of ``sessions`` threads opens a session and prompts it in a loop.

        Stop it with `Stop Background Load` (stopping the daemon also stops it).

        Args:
            sessions: Busy sessions, one thread each.
            chunks: Agent chunks per prompt.
            chunk_size: Characters per chunk (0 = short texts).
            max_seconds: Bound on the load's life.

        Returns:
            The running ``BackgroundLoad`` (``${load.turns}``: turns completed so far).

        Example:
            | ${load}= | Start Background Load | sessions=4 | chunks=100 |
            | Wait Until Background Load Is Busy | ${load} |
            | ${done}= | Stop Background Load | ${load} |
        """
        running = self.ctx.get(daemon)
        text = mock_control.directive(chunks=int(chunks), chunk_size=int(chunk_size)) + "background load"
        load = flows.BackgroundLoad(running.client, int(sessions), text, max_s=float(max_seconds)).start()
        running.daemon.on_stop(load.request_stop)
        return load

    @keyword(tags=("load",))
    def wait_until_background_load_is_busy(self, load: flows.BackgroundLoad, timeout: float = 10.0) -> None:
        """Wait until the load completed its first turn (so it is running), or fail.

        Args:
            load: From `Start Background Load`.
            timeout: Seconds to wait.

        Example:
            | Wait Until Background Load Is Busy | ${load} |
        """
        if not load.first_turn.wait(float(timeout)):
            raise AssertionError(f"Background load completed no turn within {timeout:g} s: {load.failures_so_far()}")

    @keyword(tags=("load",))
    def stop_background_load(self, load: flows.BackgroundLoad, timeout: float = 30.0) -> flows.LoadResult:
        """Stop the load (each worker finishes its turn and closes its session) and return what it did.

        Args:
            load: From `Start Background Load`.
            timeout: Seconds to wait for the workers.

        Returns:
            ``LoadResult``: ``sessions``, ``turns``, ``failures``, ``frames``, ``elapsed_ms``, ``line()``.

        Example:
            | ${done}= | Stop Background Load | ${load} |
            | Should Be Empty | ${done.failures} |
        """
        result = load.stop(float(timeout))
        self.info(result.line() + ("".join(f"\n  {f}" for f in result.failures[:10])))
        return result

    @keyword(tags=("events", "logs"))
    def wait_for_eviction_in_daemon_log(
        self,
        session_id: str | None = None,
        stream_id: str | None = None,
        reason: str | None = None,
        timeout: float = 10.0,
        daemon: str | None = None,
    ) -> flows.EvictionLogRecord:
        """Wait until the daemon's log records ``SSE client evicted`` for this session (and subscriber stream).

        The library owns the daemon's HOME, so it reads the daemon's own log file. A stalled reader usually
        never receives the ``client_evicted`` frame (the daemon destroys the socket behind a full kernel
        buffer), so this line is the daemon's word that it evicted the subscriber.

        Args:
            session_id: Only evictions of this session.
            stream_id: Only this subscriber (``${stream.stream_id}``, the ``X-Qwen-SSE-Stream-Id`` header).
            reason: Fail unless the recorded reason is this one (``queue_overflow``...).
            timeout: Seconds to wait.

        Returns:
            ``EvictionLogRecord``: ``reason``, ``dropped_after``, ``queue_size``, ``max_queued``,
            ``queued_bytes``, ``stream_id``, ``session_id``, ``line``.

        Example:
            | ${evicted}= | Wait For Eviction In Daemon Log | ${sid} | reason=queue_overflow |
        """
        if not session_id and not stream_id:
            raise HarnessConfigError("Give a session_id or a stream_id: an eviction must be tied to a subscriber.")
        running = self.ctx.get(daemon)
        record = flows.wait_for_eviction(running.daemon.daemon_log_lines, session_id, stream_id, float(timeout))
        if record is None:
            lines = running.daemon.daemon_log_lines("SSE (slow client|client evicted|stream closed)")
            raise AssertionError(
                f"The daemon's log recorded no eviction of session {session_id} stream {stream_id} within "
                f"{timeout:g} s. SSE lines:\n" + "\n".join(lines[-10:])
            )
        self.info(f"Daemon log: {record.line}")
        if reason is not None and record.reason != reason:
            raise AssertionError(f"The daemon evicted the subscriber for {record.reason!r}, expected {reason!r}.")
        return record
