r"""The subset of QBO's query language the emulator understands, parsed and evaluated.

``SELECT * | COUNT(*) FROM Entity [WHERE cond AND cond …] [ORDERBY|ORDER BY field [ASC|DESC], …]
[STARTPOSITION n] [MAXRESULTS n]`` where a condition is ``field op value`` with ``=``, ``!=``,
``<``, ``<=``, ``>``, ``>=``, ``LIKE`` (``%`` only) or ``field IN (value, …)``. Fields may be dotted
(``MetaData.LastUpdatedTime``); a reference field (``CustomerRef``) compares by its ``value``.
Values are quoted strings (``\\'`` escapes a quote), numbers, ``true`` or ``false``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

#: QBO's list entities: they answer only active records unless the query asks about ``Active``.
LIST_ENTITIES = frozenset(
    {
        "Account",
        "Class",
        "Customer",
        "Department",
        "Employee",
        "Item",
        "PaymentMethod",
        "TaxCode",
        "TaxRate",
        "Term",
        "Vendor",
    }
)

MAX_RESULTS_LIMIT = 1000
DEFAULT_MAX_RESULTS = 100


class QueryError(ValueError):
    """A query the emulator (like QBO) cannot parse; ``detail`` mimics QBO's parser message."""

    def __init__(self, detail: str, code: str = "4000"):
        self.detail = detail
        self.code = code
        super().__init__(detail)


@dataclass(frozen=True)
class Condition:
    """One ``field op value(s)`` term of a WHERE clause."""

    path: tuple[str, ...]
    op: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Query:
    """A parsed SELECT."""

    entity: str
    count: bool
    conditions: tuple[Condition, ...] = ()
    order: tuple[tuple[tuple[str, ...], bool], ...] = ()  # (path, descending)
    start_position: int = 1
    max_results: int = DEFAULT_MAX_RESULTS
    text: str = field(default="", compare=False)

    def filter_key(self) -> tuple[Any, ...]:
        """What decides the matching rows (not the page): used to cache results."""
        return (self.entity, self.conditions, self.order)


_TOKEN = re.compile(
    r"""
    \s*(?:
      (?P<string>'(?:\\.|[^'\\])*')
    | (?P<number>-?\d+(?:\.\d+)?)
    | (?P<op><=|>=|!=|<>|=|<|>)
    | (?P<punct>[(),*])
    | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
    )""",
    re.VERBOSE,
)


def _tokenize(text: str) -> list[tuple[str, str, int]]:
    tokens: list[tuple[str, str, int]] = []
    pos = 0
    stripped = text.rstrip()
    while pos < len(stripped):
        match = _TOKEN.match(stripped, pos)
        if match is None or match.end() == pos:
            column = pos + 1
            raise QueryError(f'QueryParserError: Encountered "{stripped[pos : pos + 10]}" at line 1, column {column}.')
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind), match.start(kind) + 1))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def peek_word(self) -> str:
        token = self.peek()
        return token[1].upper() if token is not None and token[0] == "word" else ""

    def take(self) -> tuple[str, str, int]:
        token = self.peek()
        if token is None:
            raise QueryError("QueryParserError: Encountered <EOF> at line 1.")
        self.i += 1
        return token

    def fail(self, token: tuple[str, str, int] | None, expecting: str) -> QueryError:
        if token is None:
            return QueryError(f"QueryParserError: Encountered <EOF> at line 1.\nWas expecting:\n    {expecting} ...\n")
        return QueryError(
            f'QueryParserError: Encountered " "{token[1]}" "{token[1].upper()} "" at line 1, column {token[2]}.\n'
            f"Was expecting:\n    {expecting} ...\n    "
        )

    def expect_word(self, word: str) -> None:
        token = self.peek()
        if token is None or token[0] != "word" or token[1].upper() != word:
            raise self.fail(token, word)
        self.i += 1

    def expect_punct(self, char: str) -> None:
        token = self.peek()
        if token is None or token[0] != "punct" or token[1] != char:
            raise self.fail(token, f'"{char}"')
        self.i += 1

    def identifier(self) -> str:
        token = self.peek()
        if token is None or token[0] != "word" or token[1].upper() in _KEYWORDS:
            raise self.fail(token, "<IDENTIFIER>")
        self.i += 1
        return token[1]

    def integer(self) -> int:
        token = self.peek()
        if token is None or token[0] != "number" or not token[1].lstrip("-").isdigit():
            raise self.fail(token, "<INTEGER>")
        self.i += 1
        return int(token[1])

    def value(self) -> Any:
        token = self.take()
        kind, text, _ = token
        if kind == "string":
            return re.sub(r"\\(.)", r"\1", text[1:-1])
        if kind == "number":
            return Decimal(text)
        if kind == "word" and text.lower() in ("true", "false"):
            return text.lower() == "true"
        raise self.fail(token, "<STRING>")

    def parse(self) -> Query:
        self.expect_word("SELECT")
        token = self.peek()
        count = False
        if token is not None and token[0] == "punct" and token[1] == "*":
            self.i += 1
        elif self.peek_word() == "COUNT":
            self.i += 1
            self.expect_punct("(")
            self.expect_punct("*")
            self.expect_punct(")")
            count = True
        else:
            raise self.fail(token, '"*"')
        self.expect_word("FROM")
        entity = self.identifier()
        conditions: list[Condition] = []
        if self.peek_word() == "WHERE":
            self.i += 1
            conditions.append(self.condition())
            while self.peek_word() == "AND":
                self.i += 1
                conditions.append(self.condition())
        order: list[tuple[tuple[str, ...], bool]] = []
        if self.peek_word() in ("ORDERBY", "ORDER"):
            if self.take()[1].upper() == "ORDER":
                self.expect_word("BY")
            while True:
                path = tuple(self.identifier().split("."))
                descending = False
                if self.peek_word() in ("ASC", "DESC"):
                    descending = self.take()[1].upper() == "DESC"
                order.append((path, descending))
                token = self.peek()
                if token is not None and token[0] == "punct" and token[1] == ",":
                    self.i += 1
                    continue
                break
        start, max_results = 1, DEFAULT_MAX_RESULTS
        if self.peek_word() == "STARTPOSITION":
            self.i += 1
            start = self.integer()
        if self.peek_word() == "MAXRESULTS":
            self.i += 1
            max_results = self.integer()
        token = self.peek()
        if token is not None:
            raise self.fail(token, "<EOF>")
        if start < 1:
            start = 1
        if max_results < 0:
            raise QueryError("QueryValidationError: MAXRESULTS must be positive", code="4001")
        return Query(
            entity=entity,
            count=count,
            conditions=tuple(conditions),
            order=tuple(order),
            start_position=start,
            max_results=min(max_results, MAX_RESULTS_LIMIT),
            text=self.text,
        )

    def condition(self) -> Condition:
        path = tuple(self.identifier().split("."))
        token = self.peek()
        if token is not None and token[0] == "op":
            self.i += 1
            op = "!=" if token[1] == "<>" else token[1]
            return Condition(path, op, (self.value(),))
        word = self.peek_word()
        if word == "IN":
            self.i += 1
            self.expect_punct("(")
            values = [self.value()]
            while True:
                token = self.peek()
                if token is not None and token[0] == "punct" and token[1] == ",":
                    self.i += 1
                    values.append(self.value())
                    continue
                break
            self.expect_punct(")")
            return Condition(path, "IN", tuple(values))
        if word == "LIKE":
            self.i += 1
            return Condition(path, "LIKE", (self.value(),))
        raise self.fail(token, "<OPERATOR>")


_KEYWORDS = frozenset(
    {"SELECT", "FROM", "WHERE", "AND", "ORDERBY", "ORDER", "BY", "STARTPOSITION", "MAXRESULTS", "IN", "LIKE"}
)


def parse_query(text: str) -> Query:
    """Parse a query; raises :class:`QueryError` (QBO fault 4000) when it is not understood."""
    if not text or not text.strip():
        raise QueryError("QueryParserError: Encountered <EOF> at line 1, column 1.")
    return _Parser(text.strip()).parse()


# --------------------------------------------------------------------------- evaluation


def resolve(record: dict[str, Any], path: tuple[str, ...]) -> Any:
    """The value at a dotted path; a reference object stands for its ``value``."""
    value: Any = record
    for part in path:
        if not isinstance(value, dict):
            return None
        if part in value:
            value = value[part]
            continue
        lowered = part.lower()
        for key in value:
            if key.lower() == lowered:
                value = value[key]
                break
        else:
            return None
    if isinstance(value, dict) and "value" in value:
        return value["value"]
    return value


_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T")


def _comparable(left: Any, right: Any) -> tuple[Any, Any] | None:
    if isinstance(right, bool) or isinstance(left, bool):
        if isinstance(left, str) and left.lower() in ("true", "false"):
            left = left.lower() == "true"
        return (left, right) if isinstance(left, bool) and isinstance(right, bool) else None
    if isinstance(right, Decimal) or isinstance(left, int | float | Decimal):
        try:
            return Decimal(str(left)), Decimal(str(right))
        except InvalidOperation:
            return None
    left_s, right_s = str(left), str(right)
    if _DATETIME.match(left_s) and _DATETIME.match(right_s):
        try:
            left_t, right_t = datetime.fromisoformat(left_s), datetime.fromisoformat(right_s)
        except ValueError:
            return left_s, right_s
        if (left_t.tzinfo is None) == (right_t.tzinfo is None):
            return left_t, right_t
    return left_s, right_s


def _test(op: str, left: Any, right: Any) -> bool:
    if op == "LIKE":
        pattern = "^" + ".*".join(re.escape(part) for part in str(right).split("%")) + "$"
        return re.match(pattern, str(left), re.IGNORECASE | re.DOTALL) is not None
    pair = _comparable(left, right)
    if pair is None:
        return False
    a, b = pair
    if op == "=":
        return bool(a == b)
    if op == "!=":
        return bool(a != b)
    try:
        if op == "<":
            return bool(a < b)
        if op == "<=":
            return bool(a <= b)
        if op == ">":
            return bool(a > b)
        if op == ">=":
            return bool(a >= b)
    except TypeError:
        return False
    return False


def matches(record: dict[str, Any], condition: Condition) -> bool:
    """True when the record satisfies one condition (a missing field satisfies none)."""
    value = resolve(record, condition.path)
    if value is None:
        return False
    if condition.op == "IN":
        return any(_test("=", value, candidate) for candidate in condition.values)
    return _test(condition.op, value, condition.values[0])


#: Fields kept indexed, as QBO keeps them: an ``=`` or ``IN`` on one of them reads no other record.
INDEXED_FIELDS: tuple[str, ...] = ("Id", "DocNumber", "PaymentRefNum", "CustomerRef", "VendorRef")


@dataclass(frozen=True)
class FieldIndex:
    """Positions of the records per plain-text value of one field, and those it cannot place.

    ``other`` holds the records whose value is not plain text (a number, a date-time that compares
    as a time): an index look-up returns them too, and the conditions then decide, so the index
    never changes which records a query selects.
    """

    by_value: dict[str, list[int]]
    other: list[int]

    @classmethod
    def build(cls, records: list[dict[str, Any]], name: str) -> FieldIndex:
        """The index of one field over ``records`` (a missing field matches no condition: left out)."""
        by_value: dict[str, list[int]] = {}
        other: list[int] = []
        for position, record in enumerate(records):
            value = resolve(record, (name,))
            if value is None:
                continue
            if isinstance(value, str) and not _DATETIME.match(value):
                by_value.setdefault(value, []).append(position)
            else:
                other.append(position)
        return cls(by_value, other)


def narrowed(records: list[dict[str, Any]], query: Query, indexes: dict[str, FieldIndex]) -> list[dict[str, Any]]:
    """The records that can match an indexed ``=`` / ``IN`` condition of the query, in their order.

    A superset of what the query selects (``select`` still applies every condition); all the
    records when no condition can use an index.
    """
    for condition in query.conditions:
        if condition.op not in ("=", "IN") or len(condition.path) != 1:
            continue
        index = indexes.get(condition.path[0].lower())
        texts = [v for v in condition.values if isinstance(v, str) and not _DATETIME.match(v)]
        if index is None or len(texts) != len(condition.values):
            continue
        positions = set(index.other)
        for value in texts:
            positions.update(index.by_value.get(value, ()))
        return [records[i] for i in sorted(positions)]
    return records


def asks_about_active(query: Query) -> bool:
    """True when a condition names ``Active`` (then inactive list records may be returned)."""
    return any(c.path[-1].lower() == "active" for c in query.conditions)


def select(records: list[dict[str, Any]], query: Query, *, entity: str) -> list[dict[str, Any]]:
    """The records matching the query's conditions, in its order (pagination not applied)."""
    rows = records
    if entity in LIST_ENTITIES and not asks_about_active(query):
        rows = [r for r in rows if r.get("Active", True) is not False]
    for condition in query.conditions:
        rows = [r for r in rows if matches(r, condition)]
    for path, descending in reversed(query.order):
        rows = sorted(rows, key=_sorter(path), reverse=descending)
    return rows


def _sorter(path: tuple[str, ...]) -> Callable[[dict[str, Any]], tuple[int, Any]]:
    def key(record: dict[str, Any]) -> tuple[int, Any]:
        return _sort_key(resolve(record, path))

    return key


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, "")
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, int | float | Decimal):
        return (1, Decimal(str(value)))
    text = str(value)
    if text.lstrip("-").isdigit():
        return (1, Decimal(text))
    return (2, text)
