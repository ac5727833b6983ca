"""The Robot Framework library: composes the keyword components around one shared context."""

from __future__ import annotations

from robot.api import logger
from robot.version import get_version as robot_version
from robotlibcore import DynamicCore, keyword

from keywords.components.ab_keywords import BuildComparisonKeywords
from keywords.components.acp_keywords import AcpKeywords
from keywords.components.baseline_keywords import BaselineKeywords
from keywords.components.benchmark_keywords import BenchmarkKeywords
from keywords.components.capacity_keywords import CapacityKeywords, SoakKeywords
from keywords.components.component import Component
from keywords.components.connection_keywords import ConnectionKeywords
from keywords.components.daemon_keywords import DaemonKeywords
from keywords.components.event_keywords import EventKeywords
from keywords.components.first_output_keywords import FirstOutputKeywords
from keywords.components.flow_keywords import FlowKeywords
from keywords.components.history_keywords import HistoryKeywords
from keywords.components.load_keywords import LoadKeywords
from keywords.components.log_keywords import LogKeywords
from keywords.components.mock_keywords import MockKeywords
from keywords.components.perf_baseline_keywords import PerfBaselineKeywords
from keywords.components.perf_gate_keywords import PerfGateKeywords
from keywords.components.permission_keywords import PermissionKeywords
from keywords.components.permission_scenario_keywords import PermissionScenarioKeywords
from keywords.components.plot_keywords import PlotKeywords
from keywords.components.process_keywords import ProcessKeywords
from keywords.components.provider_keywords import ProviderKeywords
from keywords.components.report_keywords import ReportKeywords
from keywords.components.restore_keywords import RestoreKeywords
from keywords.components.security_keywords import SecurityKeywords
from keywords.components.session_keywords import SessionKeywords
from keywords.components.stream_check_keywords import StreamCheckKeywords
from keywords.components.table_keywords import TableKeywords
from keywords.components.turn_check_keywords import TurnCheckKeywords
from keywords.context import HarnessContext
from keywords.daemon import flags as daemon_flags
from keywords.daemon.run_metadata import RunMetadata
from keywords.keyword_docs import with_returned_fields

__version__ = "0.1.0"


class QwenServe(DynamicCore):
    """Acceptance, stress and benchmark keywords for the real ``qwen serve`` daemon.

    = What it does =

    The library starts the real daemon (the pinned npm release, or a local build), each with a private
    HOME and workspace on a loopback port, replaces its agent child with a mock ACP agent (or runs the real
    one against a fake model provider), talks to it over HTTP and SSE, and measures its process tree.
    Every process it starts is stopped by `Stop All Daemons`, at interpreter exit, or by a watchdog if the
    Robot process dies.

    = Importing =

    | Library | keywords.QwenServe | daemon_entry=${DAEMON_ENTRY} |

    ``daemon_entry`` points at a local daemon build's entry script (``dist/cli.js``); empty means the
    ``QWEN_SERVE_ENTRY`` environment variable, and when that is empty too, the pinned release.
    ``results_dir`` overrides where artifacts go (default: Robot's output directory).

    = Starting a daemon =

    `Start Daemon With Mock Agent` runs the daemon with our mock ACP agent as its agent child (no model
    needed); `Start Daemon With Real Agent` runs its own agent child against a model provider such as
    `Start Fake Provider`. Each takes only the settings of its agent, the common options and the daemon
    flags below. The last daemon started is the current one; keywords with a ``daemon`` argument take a
    daemon name (``daemon-2``) to address another.

    = Daemon flags =

    Both start keywords take these daemon flags as named arguments (``max_sessions=0``), and no others.
    A value outside the range is refused before anything starts; ``extra_args`` may not repeat them.
    The bearer token is no flag: pass ``token=`` (it goes to the daemon through its environment).

    {daemon_flags}

    = Example =

    | ${daemon}= | Start Daemon With Mock Agent | max_sessions=0 |
    | ${sid}= | Open Session |
    | ${turn}= | Prompt And Wait | ${sid} | hello | chunks=3 |
    | Turn Should Complete | ${turn} | chunks=3 |
    | Close Session | ${sid} |
    | Stop Daemon |

    = Stream options =

    Every keyword that opens a session's event stream (`Read Events`, `Subscribe To Events`,
    `Open Event Streams`) takes these options, always by name (``timeout=5 s``). Durations are Robot time
    strings (``10 s``, ``1.5 min``) or numbers of seconds. A bad option is refused before the stream opens, with
    its name, its range and the value given.

    | = Option = | = Values = | = Meaning = |
    | ``last_event_id`` | 0 or more | Send ``Last-Event-ID``: replay the events after it (``0``: the whole ring). |
    | ``max_queued`` | 16 to 2048 | The daemon's queue cap for this subscriber (``?maxQueued=``). |
    | ``max_events`` | 1 or more | Stop after this many frames. |
    | ``until`` | frame types | Stop at the first frame of one of these types (a list, or comma-separated). |
    | ``until_turn_end`` | a prompt id | Stop when this prompt's turn ends (``turn_complete``/``turn_error``). |
    | ``timeout`` | up to 1 hour | Overall bound (10 s for `Read Events`, else 30 s); then ``end`` is ``timeout``. |
    | ``delay`` | 0 to 60 s | Sleep after each frame (a slow consumer). |
    | ``stall`` | 0 to 1 hour | Read nothing this long after connecting (a stalled consumer), then drain. |
    | ``recv_buffer`` | 256 bytes or more | Socket receive buffer, set before connecting (small: a stall bites fast). |
    | ``keep_events`` | boolean | Keep every frame (default); off for long floods: ids and counts stay. |

    Without ``last_event_id`` the stream gets only events from now on; with it, the replayed events, then
    ``replay_complete``, then live ones. A subscriber whose queue exceeds ``max_queued`` is evicted.
    `Release Stalled Reader` ends a ``stall`` early. Ending by ``timeout`` is not an error.

    The stream stops at a terminal frame (``session_closed``, ``session_died``, ``client_evicted``) in any case.
    What arrived is a ``StreamResult``: ``status``, ``received``, ``ids``, ``last_id``, ``gaps``, ``duplicates``,
    ``end`` (``terminal``, ``turn_end``, ``max_events``, ``until_type``, ``timeout``, ``eof``, ``cut``, ``stopped``,
    ``error``), ``terminal``, ``evicted`` (a ``client_evicted`` frame arrived), ``eviction_reason``,
    ``cut_before_terminal`` (the connection broke before any terminal frame: an eviction the daemon could not
    announce, or a crash), ``replay_complete``, ``replayed_count``, ``resync``, ``counts``, ``events``,
    ``first_event_ms``, ``stream_id``; ``figures()`` and ``line()`` for the report.
    """

    ROBOT_LIBRARY_SCOPE = "GLOBAL"
    ROBOT_LIBRARY_VERSION = __version__
    ROBOT_LIBRARY_DOC_FORMAT = "ROBOT"
    ROBOT_LISTENER_API_VERSION = 3

    def __init__(self, daemon_entry: str = "", results_dir: str = "") -> None:
        self.ctx = HarnessContext(
            daemon_entry=daemon_entry, results_dir=results_dir, output_dir=Component.variable("${OUTPUT DIR}", "")
        )
        self.ROBOT_LIBRARY_LISTENER = self
        self._report = ReportKeywords(self.ctx)
        self._run_meta = RunMetadata(self.ctx, robot_version())
        self._daemons = DaemonKeywords(self.ctx)
        self._providers = ProviderKeywords(self.ctx)
        self._history = HistoryKeywords(self.ctx, self._report)
        plots = PlotKeywords(self.ctx)
        components = [
            self._report,
            self._daemons,
            SessionKeywords(self.ctx),
            EventKeywords(self.ctx),
            StreamCheckKeywords(self.ctx),
            TurnCheckKeywords(self.ctx),
            MockKeywords(self.ctx),
            BenchmarkKeywords(self.ctx),
            PerfBaselineKeywords(self.ctx),
            BuildComparisonKeywords(self.ctx),
            LoadKeywords(self.ctx),
            ConnectionKeywords(self.ctx),
            LogKeywords(self.ctx),
            FlowKeywords(self.ctx),
            plots,
            BaselineKeywords(self.ctx),
            ProcessKeywords(self.ctx),
            self._providers,
            PerfGateKeywords(self.ctx, self._daemons),
            SecurityKeywords(self.ctx),
            PermissionKeywords(self.ctx),
            PermissionScenarioKeywords(self.ctx),
            FirstOutputKeywords(self.ctx, self._daemons),
            RestoreKeywords(self.ctx, self._daemons),
            AcpKeywords(self.ctx),
            self._history,
            CapacityKeywords(self.ctx, plots),
            SoakKeywords(self.ctx, plots),
            TableKeywords(self.ctx, self._report, self._daemons, plots),
        ]
        super().__init__(components)

    def get_keyword_documentation(self, name: str) -> str:
        """A keyword's documentation, its ``Returns:`` completed with every field of the object it returns."""
        doc = super().get_keyword_documentation(name)
        method = self.keywords.get(name)
        return with_returned_fields(doc, method) if method is not None and not name.startswith("__") else doc

    @keyword(tags=("daemon",))
    def stop_everything(self) -> None:
        """Stop every daemon (with its streams) and every fake provider the library started.

        Fails as `Stop All Daemons` does when a process of a daemon survived its stop (after stopping
        everything). The library also does this by itself when the top-level suite ends, and at interpreter exit.

        Example:
            | Suite Teardown | Stop Everything |
        """
        self._providers.stop_all_fake_providers()
        self._daemons.stop_all_daemons()

    # -- listener (v3): run-wide metadata; scenario records get the test's real outcome ------------
    def start_suite(self, data, result) -> None:
        """Listener: the first suite seen sets the run's facts as metadata of the top-level suite."""
        if not self.ctx.output_dir:
            self.ctx.output_dir = Component.variable("${OUTPUT DIR}", "")
        self._run_meta.start_suite(result)
        self._history.run_started(result)

    def end_suite(self, data, result) -> None:
        """Listener: when the top-level suite ends, stop anything a suite left running (a leak is a warning)."""
        if result.parent is None and (self.ctx.daemons or self._providers.providers):
            try:
                self.stop_everything()
            except AssertionError as exc:
                logger.warn(str(exc))

    def end_keyword(self, data, result) -> None:
        """Listener: after a start keyword, note its agent (mock or real child) in the run's metadata."""
        self._run_meta.end_keyword(result)

    def start_test(self, data, result) -> None:
        """Listener: a test starts."""
        self._report.test_started()

    def end_test(self, data, result) -> None:
        """Listener: a test ended; update the snapshots with its status."""
        self._report.test_ended(result.status, result.message)

    def close(self) -> None:
        """Listener: the run ended (Robot calls this after the top-level suite); record it in the run history."""
        self._history.run_ended()


QwenServe.__doc__ = QwenServe.__doc__.replace("{daemon_flags}", daemon_flags.doc_table().replace("\n", "\n    "))
