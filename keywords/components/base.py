"""Base of the keyword components: access to the shared context and Robot's logger."""

from __future__ import annotations

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
