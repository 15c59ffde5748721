"""The small part of OData list queries the Batch test server understands: $filter, $select, paging.

$filter: comparisons ``path op literal`` (op: eq, ne, gt, ge, lt, le; path like ``state`` or
``executionInfo/result``; literal: 'text', number, true, false), joined with ``and`` / ``or``
(``and`` binds tighter), optionally in parentheses. Enough for what a launcher asks
(``state eq 'completed'``, ``executionInfo/result eq 'failure'``). Anything else is rejected with the
service's 400 InvalidQueryParameterValue, so an unsupported filter fails loudly instead of silently
returning everything.
"""

from __future__ import annotations

import re
from typing import Callable

from .batch_wire import BatchError

_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<lp>\()|(?P<rp>\))|(?P<word>[A-Za-z_][\w/.]*))")
_OPS = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a is not None and a > b,
    "ge": lambda a, b: a is not None and a >= b,
    "lt": lambda a, b: a is not None and a < b,
    "le": lambda a, b: a is not None and a <= b,
}

Predicate = Callable[[dict], bool]


def bad_query(name: str, value: str, reason: str) -> BatchError:
    return BatchError(
        400,
        "InvalidQueryParameterValue",
        "Value for one of the query parameters specified in the request URI is invalid.",
        [("QueryParameterName", name), ("QueryParameterValue", value), ("Reason", reason)],
    )


def parse_filter(text: str) -> Predicate:
    tokens = _tokenize(text)
    position = 0

    def peek():
        return tokens[position] if position < len(tokens) else (None, None)

    def take():
        nonlocal position
        position += 1
        return tokens[position - 1]

    def parse_or() -> Predicate:
        left = parse_and()
        while peek() == ("word", "or"):
            take()
            right = parse_and()
            left = (lambda a, b: lambda item: a(item) or b(item))(left, right)
        return left

    def parse_and() -> Predicate:
        left = parse_atom()
        while peek() == ("word", "and"):
            take()
            right = parse_atom()
            left = (lambda a, b: lambda item: a(item) and b(item))(left, right)
        return left

    def parse_atom() -> Predicate:
        kind, value = take() if position < len(tokens) else (None, None)
        if kind == "lp":
            inner = parse_or()
            if take()[0] != "rp":
                raise bad_query("$filter", text, "Unbalanced parentheses.")
            return inner
        if kind != "word":
            raise bad_query("$filter", text, "Expected a property name.")
        path = value.split("/")
        op_kind, op = take() if position < len(tokens) else (None, None)
        if op_kind != "word" or op not in _OPS:
            raise bad_query("$filter", text, f"Unsupported operator {op!r}.")
        literal = _literal(take() if position < len(tokens) else (None, None), text)
        compare = _OPS[op]
        return lambda item: compare(_lookup(item, path), literal)

    predicate = parse_or()
    if position != len(tokens):
        raise bad_query("$filter", text, "Unexpected text at the end of the filter.")
    return predicate


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while position < len(text.rstrip()):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise bad_query("$filter", text, f"Cannot read the filter at position {position}.")
        kind = match.lastgroup
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


def _literal(token, text: str):
    kind, value = token
    if kind == "str":
        return value[1:-1].replace("''", "'")
    if kind == "num":
        return float(value) if "." in value else int(value)
    if kind == "word" and value in ("true", "false", "null"):
        return {"true": True, "false": False, "null": None}[value]
    raise bad_query("$filter", text, "Expected a literal value.")


def _lookup(item: dict, path: list[str]):
    value = item
    for part in path:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def select(item: dict, fields: str | None) -> dict:
    if not fields:
        return item
    wanted = {name.strip() for name in fields.split(",") if name.strip()}
    return {key: value for key, value in item.items() if key in wanted}


def page(items: list[dict], query: dict[str, str], default_max: int) -> tuple[list[dict], int | None]:
    """One page of ``items`` and the offset of the next page (None on the last page)."""
    try:
        size = int(query.get("maxresults") or default_max)
        offset = int(query.get("$skiptoken") or 0)
    except ValueError as exc:
        raise bad_query("maxresults", str(query.get("maxresults")), "Not a number.") from exc
    if not 1 <= size <= 1000:
        raise bad_query("maxresults", str(size), "Must be between 1 and 1000.")
    chunk = items[offset : offset + size]
    return chunk, (offset + size if offset + size < len(items) else None)
