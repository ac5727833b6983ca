"""Scenario table rows: the columns of each table, and the check of a row's cells before anything starts.

A scenario table (``suites/scenarios/*.robot``) is a Robot test template whose rows a QA reviewer writes. Each
table has a :class:`Table`: its columns in order, each with its header as the table spells it (``BURST``,
``P99 BOUND MS``), what it may hold and what it means in plain words (the guide's column tables are these).
:meth:`Table.parse` turns a row's cells into a :class:`Row` or raises :class:`RowError`, whose message names
the column exactly as the header spells it, the value written and the allowed values or range; a bad row fails
only itself. Numbers are checked by :mod:`keywords.checks`, the one validator.

Nothing here imports Robot Framework.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from keywords import checks
from keywords.errors import HarnessConfigError

MAX_COUNT = 1000
"""Most sessions in a burst, and most prompts per session (the flows' own limit)."""


class RowError(HarnessConfigError):
    """A cell of a scenario row is not what its column allows (the message names the column and the value).

    Robot Framework shows the message as it is, without the class name in front: the row's reader gets plain
    words first.
    """

    ROBOT_SUPPRESS_NAME = True


@dataclass(frozen=True)
class Column:
    """One column of a scenario table.

    Attributes:
        header: The column's name exactly as the table's header line spells it (``P99 BOUND MS``).
        field: The name of the value in the parsed :class:`Row` (``p99_bound_ms``).
        kind: ``count`` (a whole number from ``low`` to ``high``), ``bound`` (a number above ``low``),
            ``choice`` (one of ``values``) or ``text`` (parsed by ``parse``).
        meaning: What the column means, in plain words (the guide's column table).
        low: Smallest whole number of a ``count``; a ``bound`` must be above it.
        high: Largest value of a ``count`` or ``bound`` (``None``: no upper end).
        values: The allowed words of a ``choice``, or the forms a ``text`` column accepts (for messages).
        unit: Unit of a number, for messages (``ms``, ``s``, ``per second``).
        parse: For ``text`` columns: turns the stripped cell into its value or raises ``ValueError``.
        blank: A cell that may be written ``-`` when the column does not apply (its value is then ``None``).
    """

    header: str
    field: str
    kind: str
    meaning: str
    low: float = 0
    high: float | None = None
    values: tuple[str, ...] = ()
    unit: str = ""
    parse: Callable[[str], Any] | None = None
    blank: bool = False

    def allowed(self) -> str:
        """The allowed values in words (``a whole number from 1 to 1000``, ``one of echo, reject``)."""
        unit = f" {self.unit}" if self.unit else ""
        if self.kind == "count":
            if self.high is None:
                return f"a whole number, {_num(self.low)} or more{unit}"
            return f"a whole number from {_num(self.low)} to {_num(self.high)}{unit}"
        if self.kind == "bound":
            top = f" and at most {_num(self.high)}" if self.high is not None else ""
            return f"a number above {_num(self.low)}{top}{unit}"
        return "one of " + ", ".join(self.values)

    def value(self, cell: Any) -> Any:
        """The cell's value, checked and converted.

        Raises:
            RowError: ``Column "<header>" must be <allowed>, got '<cell>'.`` (the one validator's wording).
        """
        text = str(cell).strip() if cell is not None else ""
        if self.blank and text == "-":
            return None
        name = f'Column "{self.header}"'
        try:
            if self.kind == "count":
                return checks.whole_number(name, text, low=int(self.low), high=_int_or_none(self.high), unit=self.unit)
            if self.kind == "bound":
                return checks.number(name, text, low=self.low, high=self.high, unit=self.unit, low_open=True)
            if self.kind == "choice":
                return checks.choice(name, _words(text), self.values)
            if self.parse is None:
                raise ValueError(text)
            return self.parse(_words(text))
        except HarnessConfigError as exc:
            raise RowError(str(exc).replace(", got ", f"{self._dash()}, got ", 1)) from None
        except ValueError:
            raise RowError(f"{name} must be {self.allowed()}{self._dash()}; got {text!r}.") from None

    def _dash(self) -> str:
        return ', or "-" where it does not apply' if self.blank else ""


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _int_or_none(value: float | None) -> int | None:
    return None if value is None else int(value)


def _words(text: str) -> str:
    """Lower case with single spaces: how a word cell is compared."""
    return re.sub(r"\s+", " ", text.strip()).lower()


@dataclass
class Row:
    """A parsed row: its name, the cells as written and their checked values.

    Attributes:
        table: The table's name (``bursts``).
        name: The row's name (the test's name).
        cells: Header -> the cell as written.
        values: Field -> the checked value.
        inputs: Field -> parameter name, for the values that change what is measured (see :meth:`parameters`).
    """

    table: str
    name: str
    cells: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        values = self.__dict__.get("values", {})
        if name in values:
            return values[name]
        raise AttributeError(name)

    def parameters(self) -> dict[str, Any]:
        """The inputs that change what is measured, by their camelCase parameter names, for the scenario's
        ``parameters`` in the snapshot (a comparison refuses runs whose parameters differ). Bounds and the
        expected outcome are not among them: they judge a run, they do not change it. A value that is no plain
        number or word is recorded as its cell was written."""
        out: dict[str, Any] = {}
        by_field = {column: header for header, column in zip(self.cells, self.values, strict=False)}
        for name, parameter in self.inputs.items():
            value = self.values[name]
            plain = value is None or isinstance(value, (int, float, str, bool))
            out[parameter] = value if plain else self.cells[by_field[name]]
        return out

    def __str__(self) -> str:
        return ", ".join(f"{header} {cell}" for header, cell in self.cells.items())


@dataclass(frozen=True)
class Table:
    """A scenario table: its name, its columns in order, and the checks across columns.

    Attributes:
        name: The table's name (``bursts``), also its tag ``table: <name>``.
        columns: The columns, in the order of the header line.
        across: Checks of the parsed values together; each returns a :class:`RowError` message or ``None``.
        inputs: Field -> parameter name of the values that change what is measured (:meth:`Row.parameters`).
    """

    name: str
    columns: tuple[Column, ...]
    across: tuple[Callable[[dict[str, Any]], str | None], ...] = ()
    inputs: dict[str, str] = field(default_factory=dict)

    @property
    def headers(self) -> list[str]:
        """The column headers in order, as the header line spells them."""
        return [c.header for c in self.columns]

    def parse(self, name: str, cells: Sequence[Any]) -> Row:
        """Check every cell of a row and return it parsed.

        Raises:
            RowError: a wrong number of cells, the first bad cell (named by its column), or a check across
                columns.
        """
        if len(cells) != len(self.columns):
            raise RowError(
                f"The row has {len(cells)} cells, but the {self.name} table has {len(self.columns)} columns "
                f"({', '.join(self.headers)}): separate the cells with at least two spaces, and fill every one."
            )
        row = Row(self.name, name, inputs=dict(self.inputs))
        for column, cell in zip(self.columns, cells, strict=True):
            row.cells[column.header] = str(cell).strip()
            row.values[column.field] = column.value(cell)
        for check in self.across:
            problem = check(row.values)
            if problem:
                raise RowError(problem)
        return row
