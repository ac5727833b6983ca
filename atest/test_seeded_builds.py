"""Each seeded copy of the pinned release shows its regression, observed directly through the Python API; the
unpatched release, observed the same way, does not (so every observation can fail).

One daemon with the mock agent per case, a few seconds each. The copies are made once per module from the
pinned release; a few get parameters that make the signal larger than the machine's noise.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import psutil
import pytest

from keywords.daemon import provision
from keywords.daemon.daemon_log import find_evictions
from keywords.daemon.daemon_process import Daemon, DaemonSpec
from keywords.daemon.registry import Registry
from keywords.daemon.seeded import builder
from keywords.daemon.seeded.patches import BY_NAME
from keywords.errors import DaemonHttpError
from keywords.fakes import mock_control
from keywords.traffic.barrier import run_together
from keywords.traffic.client import DaemonClient
from keywords.traffic.connections import open_flood
from keywords.traffic.sse import Subscription, consume
from keywords.traffic.stream_options import StreamOptions
from keywords.traffic.turns import follow_turn, run_turn

pytestmark = pytest.mark.daemon

TOKEN = "seeded-atest-token-5d1c"
# Parameters for the copies made here: large enough to stand out of a busy machine's noise, small enough to be quick.
SPECS = {
    "leak-per-session": "leak-per-session:mb=8",
    "drop-turn-complete": "drop-turn-complete:every=3",
    "lose-every-nth-update": "lose-every-nth-update:every=7",
    "duplicate-every-nth-update": "duplicate-every-nth-update:every=7",
    "block-event-loop": "block-event-loop:busy_ms=50",
    "busy-session-and-prompt": "busy-session-and-prompt:busy_us=50000",
}


@dataclass
class Seen:
    """What one observation found: whether the regression showed, and the figures that say so."""

    regressed: bool
    detail: str


@dataclass
class Case:
    """Daemon flags for one patch's observation, and the observation itself."""

    flags: dict
    observe: Callable[[Daemon, DaemonClient, dict], Seen]
    token: bool = False


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> dict[str, builder.SeededBuild]:
    made = builder.make_builds(
        [SPECS.get(name, name) for name in BY_NAME], out=tmp_path_factory.mktemp("seeded-builds")
    )
    return {b.name: b for b in made}


@contextlib.contextmanager
def running(entry: str, tmp_path, flags: dict, token: str | None) -> Iterator[tuple[Daemon, DaemonClient]]:
    reg = Registry()

    def prepare(home):
        env, files, _control = mock_control.agent_env(home, chunks=3)
        return env, files

    spec = DaemonSpec(
        source=provision.local_source(entry),
        node=provision.check_node().path,
        flags=flags,
        token=token,
        prepare=prepare,
    )
    daemon = Daemon(spec, reg, "seeded", tmp_path / "artifacts")
    client = None
    try:
        daemon.start()
        client = DaemonClient(daemon.base_url, token=token)
        client.create_session("thread")  # warm-up: the agent child is up before anything is timed
        yield daemon, client
    finally:
        if client is not None:
            client.close()
        daemon.stop(grace_s=5)
        reg.shutdown()


def prompt(text: str, **settings) -> str:
    return mock_control.directive(**settings) + text


# -- observations ---------------------------------------------------------------------------------------
def slow_prompt_post(_d, client, params) -> Seen:
    sid = client.create_session("thread").session_id
    posts = [run_turn(client, sid, f"p{i}", timeout_s=10).post_ms for i in range(3)]
    return Seen(min(posts) >= params["delay_ms"], f"prompt POST {min(posts):.1f}..{max(posts):.1f} ms")


def slow_session_create(_d, client, params) -> Seen:
    times = [client.create_session("thread").elapsed_ms for _ in range(3)]
    return Seen(min(times) >= params["delay_ms"], f"POST /session {min(times):.1f}..{max(times):.1f} ms")


def busy_session_and_prompt(_d, client, params) -> Seen:
    busy_ms = params["busy_us"] / 1000
    creates = [client.create_session("thread") for _ in range(3)]
    posts = [run_turn(client, creates[0].session_id, f"p{i}", timeout_s=10).post_ms for i in range(3)]
    create_ms = min(c.elapsed_ms for c in creates)
    return Seen(
        create_ms >= busy_ms and min(posts) >= busy_ms,
        f"POST /session at least {create_ms:.1f} ms, prompt POST at least {min(posts):.1f} ms (busy {busy_ms:g} ms)",
    )


def block_event_loop(daemon, _client, params) -> Seen:
    count = 8
    clients = [httpx.Client(base_url=daemon.base_url, timeout=10) for _ in range(count)]
    try:
        for c in clients:  # connected and warm before the timed round
            c.get("/health").raise_for_status()

        def health(i):
            started = time.monotonic()
            clients[i].get("/health").raise_for_status()
            return (time.monotonic() - started) * 1000

        took = [t for t in run_together(count, health, what="requests") if isinstance(t, float)]
    finally:
        for c in clients:
            c.close()
    assert len(took) == count
    # a sleep would let the requests overlap; a busy loop serialises them, so the last waits for all the others
    return Seen(
        max(took) >= count * params["busy_ms"] * 0.9,
        f"{count} concurrent GET /health: slowest {max(took):.0f} ms, fastest {min(took):.0f} ms",
    )


def slow_sse_frames(_d, client, params) -> Seen:
    chunks = 100
    sid = client.create_session("thread").session_id
    turn = run_turn(client, sid, prompt("many", chunks=chunks), timeout_s=20)
    assert turn.outcome == "completed", turn.summary()
    return Seen(turn.turn_ms >= chunks * params["delay_ms"], f"{chunks}-chunk turn took {turn.turn_ms:.0f} ms")


def leak_per_session(daemon, client, params) -> Seen:
    sessions = 10
    proc = psutil.Process(daemon.pid)
    before = proc.memory_info().rss
    for _ in range(sessions):
        info = client.create_session("thread")
        client.close_session(info.session_id)
    grown_mb = (proc.memory_info().rss - before) / 1048576
    return Seen(
        grown_mb >= sessions * params["mb"] * 0.8, f"RSS +{grown_mb:.1f} MB after {sessions} created and closed"
    )


def session_cap(_d, client, _params) -> Seen:
    client.create_session("thread")  # with the warm-up session: 2, the cap
    try:
        client.create_session("thread")
    except DaemonHttpError as exc:
        assert exc.code == "session_limit_exceeded", exc
        return Seen(False, f"3rd session refused: {exc}")
    with pytest.raises(DaemonHttpError) as fourth:
        client.create_session("thread")
    assert fourth.value.code == "session_limit_exceeded" and fourth.value.body["limit"] == 2
    return Seen(True, "--max-sessions 2 admitted a 3rd session (and refused the 4th)")


def pending_cap(_d, client, _params) -> Seen:
    sid = client.create_session("thread").session_id
    client.prompt(sid, prompt("stuck", mode="hang"))
    client.prompt(sid, "queued")
    try:
        client.prompt(sid, "one too many")
    except DaemonHttpError as exc:
        assert exc.code == "prompt_queue_full", exc
        return Seen(False, f"3rd prompt refused: {exc}")
    finally:
        client.cancel(sid)
    return Seen(True, "--max-pending-prompts-per-session 2 admitted a 3rd prompt")


def subscriber_cap(daemon, client, _params) -> Seen:
    sid = client.create_session("thread").session_id
    flood = open_flood(daemon.port, 66, path=f"/session/{sid}/events")
    try:
        statuses = [a.status for a in flood.attempts]
    finally:
        flood.close()
    accepted = statuses.count(200)
    assert statuses[accepted:] and all(s == 429 for s in statuses[accepted:]), statuses
    return Seen(accepted == 65, f"{accepted} subscribers accepted, then {statuses[accepted]}")


def _turns(client, sid: str, count: int, chunks: int, timeout_s: float = 10):
    return [run_turn(client, sid, prompt(f"t{i}", chunks=chunks), timeout_s=timeout_s) for i in range(count)]


def lose_updates(_d, client, _params) -> Seen:
    sid = client.create_session("thread").session_id
    turns = _turns(client, sid, 4, chunks=4)
    counts = [t.session_updates for t in turns]
    assert all(t.outcome == "completed" and not t.stream.gaps for t in turns), [t.summary() for t in turns]
    return Seen(any(c < 5 for c in counts), f"session_update per turn {counts} (expected 5 each), no id gaps")


def duplicate_updates(_d, client, _params) -> Seen:
    sid = client.create_session("thread").session_id
    turns = _turns(client, sid, 4, chunks=4)
    counts = [t.session_updates for t in turns]
    dups = [d for t in turns for d in t.stream.duplicates]
    return Seen(any(c > 5 for c in counts) and bool(dups), f"session_update per turn {counts}, duplicate ids {dups}")


def drop_turn_complete(_d, client, _params) -> Seen:
    sid = client.create_session("thread").session_id
    turns = _turns(client, sid, 3, chunks=2, timeout_s=2)
    outcomes = [t.outcome for t in turns]
    status = client.session_status(sid).body
    assert not status.get("hasActivePrompt"), "the turn must have ended on the daemon's side"
    return Seen("timeout" in outcomes, f"outcomes {outcomes}; chunks seen {[t.chunks for t in turns]}")


def replay_off_by_one(_d, client, _params) -> Seen:
    sid = client.create_session("thread").session_id
    accepted = client.prompt(sid, prompt("seed", chunks=5))
    turn = follow_turn(client, sid, accepted, timeout_s=10)
    assert turn.outcome == "completed"
    cursor = accepted.last_event_id + 2
    again = consume(client.base_url, sid, StreamOptions(last_event_id=cursor, until_types=("replay_complete",)))
    first = again.ids[0] if again.ids else None
    return Seen(first == cursor + 2, f"Last-Event-ID {cursor}: first replayed id {first}")


def no_eviction(daemon, client, _params) -> Seen:
    sid = client.create_session("thread").session_id
    healthy = Subscription(
        daemon.base_url, sid, StreamOptions(until_types=("turn_complete",), timeout_s=20, keep_events=False)
    ).start()
    stalled = Subscription(
        daemon.base_url,
        sid,
        StreamOptions(max_queued=16, recv_buffer=4096, stall_s=10, until_types=("turn_complete",), timeout_s=20),
    ).start()
    assert healthy.wait_connected() and stalled.wait_connected()
    client.prompt(sid, prompt("flood", chunks=200, chunk_size=1024))
    fine = healthy.join(20)
    time.sleep(0.5)
    evictions = find_evictions(daemon.daemon_log_lines(), session_id=sid)
    stalled.release()
    cut = stalled.join(20)
    assert fine.end == "until_type", fine.summary()
    return Seen(
        not evictions and cut.end == "until_type" and cut.no_gaps,
        f"{len(evictions)} evictions logged; stalled reader: {cut.summary()}",
    )


def unauthenticated(route: str) -> Callable[[Daemon, DaemonClient, dict], Seen]:
    def observe(daemon, client, _params) -> Seen:
        sid = client.create_session("thread").session_id
        path = route.replace(":id", sid)
        with httpx.Client(base_url=daemon.base_url, timeout=10) as anonymous:
            status = anonymous.get(path).status_code
            assert anonymous.get("/capabilities").status_code == 401, "the other routes must still need the token"
        return Seen(status != 401, f"GET {route} without a token -> {status}")

    return observe


CASES = {
    "slow-prompt-post": Case({}, slow_prompt_post),
    "slow-session-create": Case({}, slow_session_create),
    "busy-session-and-prompt": Case({}, busy_session_and_prompt),
    "block-event-loop": Case({}, block_event_loop),
    "slow-sse-frames": Case({}, slow_sse_frames),
    "leak-per-session": Case({"max_sessions": 0}, leak_per_session),
    "session-cap-off-by-one": Case({"max_sessions": 2}, session_cap),
    "pending-cap-off-by-one": Case({"max_pending_prompts": 2}, pending_cap),
    "subscriber-cap-off-by-one": Case({}, subscriber_cap),
    "lose-every-nth-update": Case({}, lose_updates),
    "duplicate-every-nth-update": Case({}, duplicate_updates),
    "drop-turn-complete": Case({}, drop_turn_complete),
    "replay-off-by-one": Case({}, replay_off_by_one),
    "no-slow-consumer-eviction": Case({}, no_eviction),
    "unauth-workspace-mcp": Case({}, unauthenticated("/workspace/mcp"), token=True),
    "unauth-session-status": Case({}, unauthenticated("/session/:id/status"), token=True),
}


def test_every_patch_has_an_observation():
    assert sorted(CASES) == sorted(BY_NAME)


def observe(name: str, entry: str, params: dict, tmp_path) -> Seen:
    case = CASES[name]
    with running(entry, tmp_path, case.flags, TOKEN if case.token else None) as (daemon, client):
        seen = case.observe(daemon, client, params)
    print(f"{name}: {seen.detail}")
    return seen


@pytest.mark.parametrize("name", list(CASES))
def test_the_seeded_copy_shows_its_regression(name, builds, tmp_path):
    build = builds[name]
    seen = observe(name, str(build.entry), build.params, tmp_path)
    assert seen.regressed, f"{name} ({build.description}) did not show: {seen.detail}"


@pytest.mark.parametrize("name", list(CASES))
def test_the_unpatched_release_does_not(name, builds, tmp_path):
    build = builds[name]
    seen = observe(name, str(build.base_entry), build.params, tmp_path)
    assert not seen.regressed, f"the unpatched release looks like {name}: {seen.detail}"
