"""Shared option sets of keywords: one table gives the signature, the defaults and the ``Args:`` lines."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from keywords.components import event_keywords
from keywords.components.component import Option, option_values, takes_options
from keywords.components.daemon_keywords import START_OPTIONS, DaemonKeywords
from keywords.components.event_keywords import EventKeywords
from keywords.components.session_keywords import SESSION_OPTIONS, SessionKeywords
from keywords.errors import HarnessConfigError

TABLE = {"size": Option(int, 3, "How many."), "label": Option(str | None, None, "A name,\nshown in the log.")}


def test_options_become_keyword_only_arguments_before_the_named_one_with_their_docs():
    @takes_options(TABLE, before="daemon", size=5)
    def kw(self, first: str, *, daemon: str | None = None, **options: Any) -> None:
        """Do it.

        Args:
            first: The first.
            {options}
        """

    params = inspect.signature(kw).parameters
    assert list(params) == ["self", "first", "size", "label", "daemon"]
    assert params["size"].kind is inspect.Parameter.KEYWORD_ONLY and params["size"].default == 5
    assert kw.__annotations__["label"] == str | None and "options" not in kw.__annotations__
    assert "            size: How many.\n            label: A name,\n                shown in the log." in kw.__doc__


def test_free_named_arguments_stay_beside_the_options():
    @takes_options(TABLE, keep_var_keyword=True)
    def kw(self, **flags: Any) -> None:
        """Do it."""

    assert [p.kind.name for p in inspect.signature(kw).parameters.values()][-3:] == [
        "KEYWORD_ONLY",
        "KEYWORD_ONLY",
        "VAR_KEYWORD",
    ]


def test_option_values_fill_the_defaults_and_refuse_an_unknown_name():
    assert option_values(TABLE, {"label": "x"}) == {"size": 3, "label": "x"}
    with pytest.raises(HarnessConfigError, match=r"Unknown option\(s\) colour; the options are size, label\."):
        option_values(TABLE, {"colour": "red"})


def test_both_session_keywords_and_both_start_keywords_take_their_whole_table():
    for keyword, table in (
        (SessionKeywords.open_session, SESSION_OPTIONS),
        (SessionKeywords.open_session_with_info, SESSION_OPTIONS),
        (DaemonKeywords.start_daemon_with_mock_agent, START_OPTIONS),
        (DaemonKeywords.start_daemon_with_real_agent, START_OPTIONS),
    ):
        params = inspect.signature(keyword).parameters
        assert {name: params[name].default for name in table} == {n: o.default for n, o in table.items()}
        assert "{options}" not in keyword.__doc__


def test_open_session_sends_what_it_was_given_and_the_defaults(monkeypatch):
    calls = []

    class Client:
        def create_session(self, scope, **kwargs):
            calls.append((scope, kwargs))
            return type("Info", (), {"session_id": "s-1"})()

    ctx = type("Ctx", (), {"get": lambda self, daemon: type("Running", (), {"client": Client()})()})()
    assert SessionKeywords(ctx).open_session(scope="single", cwd="/w") == "s-1"
    assert calls == [("single", {"client_id": None, "session_id": None, "cwd": "/w"})]
    with pytest.raises(HarnessConfigError, match="scope must be one of thread, single"):
        SessionKeywords(ctx).open_session(scope="many")


def test_an_omitted_option_arrives_with_the_default_the_signature_shows():
    """Robot passes only the arguments a call names: a keyword's own default (``size=5``) must still apply."""
    received = []

    @takes_options(TABLE, before="daemon", size=5)
    def kw(self, *, daemon: str | None = None, **options: Any) -> None:
        """Do it."""
        received.append(options)

    kw(None)
    kw(None, label="x")
    assert received == [{"size": 5, "label": None}, {"size": 5, "label": "x"}]


def test_read_events_reads_with_its_own_default_timeout(monkeypatch):
    """`Read Events` documents ``timeout=10 s``; an omitted timeout read for the stream functions' 30 s."""
    seen = []

    class Subscription:
        def __init__(self, base_url, session_id, options, token):
            seen.append(options.timeout_s)

        def run(self):
            return "stream"

    client = type("Client", (), {"base_url": "http://127.0.0.1:1", "token": None})()
    ctx = type("Ctx", (), {"get": lambda self, daemon: type("Running", (), {"client": client})()})()
    monkeypatch.setattr(event_keywords, "Subscription", Subscription)
    assert EventKeywords(ctx).read_events("s-1", until="turn_complete") == "stream"
    assert seen == [inspect.signature(EventKeywords.read_events).parameters["timeout"].default] == [10.0]


def test_the_load_keywords_plan_with_the_defaults_their_signatures_show():
    """The load options are one table; each keyword's own defaults (drain, workers, SLO bounds) reach its plan."""
    from keywords.components.capacity_keywords import CapacityKeywords, SoakKeywords

    def default(keyword, name):
        return inspect.signature(keyword).parameters[name].default

    capacity = CapacityKeywords(None, plots_=None).plan_capacity_search()
    assert (capacity.load.drain_s, capacity.load.workers, capacity.load.backlog) == (10.0, 64, 1024)
    assert (capacity.slo.p99_ms, capacity.slo.max_errors, capacity.slo.max_late, capacity.slo.max_dropped) == (
        100.0,
        0,
        None,
        0,
    )
    assert capacity.load.prompt_text == default(CapacityKeywords.plan_capacity_search, "text") == "capacity search"
    soak = SoakKeywords(None, plots_=None).plan_soak("constant", sessions=3)
    assert (soak.load.drain_s, soak.load.sessions, soak.load.prompt_text) == (30.0, 3, "soak")
    assert (
        default(SoakKeywords.plan_soak, "drain") == 30.0
        and "subscribers" not in inspect.signature(SoakKeywords.plan_soak).parameters
    )


def test_an_assertion_fails_with_every_problem_it_found_and_passes_with_none():
    from keywords.components.component import fail_on

    fail_on([], "The stream should hold the turn, but")
    with pytest.raises(AssertionError) as caught:
        fail_on(["id 3 missing", "no turn_complete"], "The stream should hold the turn, but", "5 frames")
    assert str(caught.value) == "The stream should hold the turn, but id 3 missing; no turn_complete (5 frames)."
    with pytest.raises(AssertionError, match=r"^Not continuous: gap at 2\.$"):
        fail_on(["gap at 2"], "Not continuous:")


def test_collected_sentences_fail_with_the_first_ten_run_problems_and_the_context():
    from keywords.components.component import fail_with

    fail_with([], problems=["ignored without a sentence"], context="A against B.")
    problems = [f"run {i}: boom" for i in range(12)]
    with pytest.raises(AssertionError) as caught:
        fail_with(["The gate should pass, but 1 metric failed."], problems=problems, context="A against B.")
    text = str(caught.value)
    assert text.startswith("The gate should pass, but 1 metric failed. Run problems: run 0: boom; ")
    assert "run 9: boom." in text and "run 10" not in text and text.endswith(" A against B.")


def test_a_measuring_keyword_logs_its_result_line_and_returns_the_result(monkeypatch):
    from keywords.components import component

    logged = []
    monkeypatch.setattr(component.logger, "info", lambda message, html=False: logged.append(message))
    result = type("Result", (), {"line": lambda self: "3 flows, p50 2.0 ms"})()
    assert component.Component(None).reported(result) is result
    assert logged == ["3 flows, p50 2.0 ms"]
