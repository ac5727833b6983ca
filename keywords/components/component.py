"""Base of the keyword components: access to the shared context and Robot's logger."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from typing import Any

from robot.api import logger
from robot.libraries.BuiltIn import BuiltIn, RobotNotRunningError

from keywords.context import HarnessContext


class Component:
    """A group of keywords sharing the harness context."""

    def __init__(self, ctx: HarnessContext) -> None:
        self.ctx = ctx

    @staticmethod
    def info(message: str, html: bool = False) -> None:
        """Log at INFO level into the Robot log."""
        logger.info(message, html=html)

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
