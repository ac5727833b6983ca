"""Base of the keyword components: access to the shared context and Robot's logger."""

from __future__ import annotations

import functools
import html
import inspect
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple, get_type_hints

from robot.api import logger
from robot.libraries.BuiltIn import BuiltIn, RobotNotRunningError

from keywords.context import HarnessContext
from keywords.errors import HarnessConfigError


class Component:
    """A group of keywords sharing the harness context."""

    def __init__(self, ctx: HarnessContext) -> None:
        self.ctx = ctx

    @staticmethod
    def info(message: str, html: bool = False) -> None:
        """Log at INFO level into the Robot log."""
        logger.info(message, html=html)

    def reported(self, result: Any) -> Any:
        """``result``, its ``line()`` logged first: how a measuring keyword hands back what it measured."""
        self.info(result.line())
        return result

    @staticmethod
    def variable(name: str, default=None):
        """Value of a Robot variable such as ``${TEST NAME}`` (``default`` outside a run)."""
        try:
            return BuiltIn().get_variable_value(name, default)
        except RobotNotRunningError:
            return default


_WHOLE_NUMBER = re.compile(r"-?\d+")


def typed_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """Free named arguments with whole-number texts as ``int`` (Robot passes ``burst=10`` as ``"10"``).

    A conversion for values that are recorded as given (scenario parameters); it checks nothing. Mock
    settings do not go through it: :mod:`keywords.fakes.mock_control` converts and checks them against the
    mock's own table.
    """
    return {k: int(v) if isinstance(v, str) and _WHOLE_NUMBER.fullmatch(v.strip()) else v for k, v in settings.items()}


def html_table(caption: str, headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """An HTML table for the log (``Component.info(..., html=True)``); every text is escaped."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table border="1"><caption>{html.escape(caption)}</caption><tr>{head}</tr>{body}</table>'


def fail_on(problems: Sequence[str], lead: str, detail: str = "") -> None:
    """Fail with every problem an assertion found: ``"<lead> <p1>; <p2> (<detail>)."``; nothing when there is none.

    ``lead`` is the sentence's start, what was expected up to ``but`` or a colon (``The stream did not continue
    exactly after id 4:``); ``detail`` is what was looked at (a result's ``summary()``).
    """
    if problems:
        raise AssertionError(f"{lead} {'; '.join(problems)}" + (f" ({detail})" if detail else "") + ".")


def fail_with(parts: Sequence[str], *, problems: Sequence[str] = (), context: str = "") -> None:
    """Fail with the sentences an assertion collected, then the run's problems (the first 10) and what was
    compared (``context``); nothing when no sentence was collected."""
    if not parts:
        return
    text = list(parts)
    if problems:
        text.append("Run problems: " + "; ".join(problems[:10]) + ".")
    if context:
        text.append(context)
    raise AssertionError(" ".join(text))


ARGS_INDENT = 12  # an Args: item of a keyword method's docstring


class Option(NamedTuple):
    """One argument of a shared option set: its type, its default and (where the keyword documents it) its text."""

    hint: Any
    default: Any
    doc: str = ""


def takes_options(
    options: Mapping[str, Option], *, before: str | None = None, keep_var_keyword: bool = False, **defaults: Any
) -> Callable[[Callable], Callable]:
    """Give a keyword a shared option set, declared once in a table, as typed keyword-only arguments.

    The keyword declares ``**name`` and receives the options in it; Robot Framework (and libdoc) see them one
    by one, with their types and defaults, from the signature set here. They are placed before the argument
    ``before`` (default: at the end). ``keep_var_keyword`` keeps ``**name`` in the signature too, for free
    named arguments beside the options (daemon flags; :func:`pop_options` separates them); ``defaults``
    overrides a table default for this keyword. The keyword receives every option, an omitted one with the
    default its signature shows (Robot passes only the arguments a call names). A ``{options}`` line in the
    keyword's ``Args:`` section becomes the documented options' lines.
    """

    def add(function: Callable) -> Callable:
        if function.__doc__ and "{options}" in function.__doc__:
            function.__doc__ = function.__doc__.replace("{options}", options_doc(options, ARGS_INDENT))
        signature = inspect.signature(function)
        params = list(signature.parameters.values())
        var_keyword = [p for p in params if p.kind is p.VAR_KEYWORD]
        kept = [p for p in params if p.kind is not p.VAR_KEYWORD]
        at = next((i for i, p in enumerate(kept) if p.name == before), len(kept))
        added = [
            inspect.Parameter(
                name, inspect.Parameter.KEYWORD_ONLY, default=defaults.get(name, o.default), annotation=o.hint
            )
            for name, o in options.items()
        ]
        tail = var_keyword if keep_var_keyword else []
        function.__signature__ = signature.replace(parameters=[*kept[:at], *added, *kept[at:], *tail])
        hints = get_type_hints(function)
        if not keep_var_keyword:
            for p in var_keyword:
                hints.pop(p.name, None)
        function.__annotations__ = {**hints, **{name: o.hint for name, o in options.items()}}
        shown = {name: defaults.get(name, o.default) for name, o in options.items()}

        @functools.wraps(function)
        def with_defaults(*args: Any, **named: Any) -> Any:
            return function(*args, **{**shown, **named})

        return with_defaults

    return add


def option_values(options: Mapping[str, Option], given: Mapping[str, Any]) -> dict[str, Any]:
    """Every option of the set: the value given, else the table default; a name not in the set is refused."""
    unknown = sorted(set(given) - set(options))
    if unknown:
        raise HarnessConfigError(f"Unknown option(s) {', '.join(unknown)}; the options are {', '.join(options)}.")
    return {name: given.get(name, o.default) for name, o in options.items()}


def pop_options(options: Mapping[str, Option], named: dict[str, Any]) -> dict[str, Any]:
    """Take a set's options out of a keyword's named arguments (the table default for one not given); what is
    left in ``named`` are the keyword's free named arguments (daemon flags, mock settings)."""
    return {name: named.pop(name, o.default) for name, o in options.items()}


def subset(options: Mapping[str, Option], *names: str) -> dict[str, Option]:
    """The options ``names`` of a set, in that order: a keyword that takes only some of a shared table."""
    return {name: options[name] for name in names}


def options_doc(options: Mapping[str, Option], indent: int) -> str:
    """The ``Args:`` lines of an option set's documented options, continuation lines indented by ``indent``."""
    pad = "\n" + " " * indent
    return pad.join(f"{name}: {o.doc}".replace("\n", pad + "    ") for name, o in options.items() if o.doc)
