"""What untrusted input may be: bounded bodies, JSON of bounded depth holding only valid Unicode,
and whole numbers in ASCII digits within what the store's columns hold.

Every HTTP entry point (the web channel, both webhooks, the console) reads its input through
here, so a malformed request is a 4xx that says what was wrong, never an exception from deep in
the parser or the store:

- `"[" * 100000` exhausts the JSON parser's recursion (`RecursionError`): depth is counted on
  the raw text before parsing;
- a lone UTF-16 surrogate (the JSON escape `"\\ud800"`) parses into a Python string that cannot
  be written as UTF-8, so the store fails on it;
- the store's ids and counts are INTEGER columns: 32-bit on PostgreSQL, and even SQLite refuses
  a number from 2**63 on;
- `str.isdigit()` accepts "²" and "١", which `int()` refuses or reads as another number.
"""

from __future__ import annotations

import json
import math
import re
from itertools import accumulate
from typing import Any

from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request

from bot.errors import Refused

__all__ = [
    "MAX_JSON_DEPTH",
    "MAX_STORED_INT",
    "IdConvertor",
    "InputError",
    "ascii_int",
    "is_valid_unicode",
    "parse_json",
    "read_body",
    "read_json",
]

MAX_STORED_INT = 2**31 - 1
"""The largest id or count the store holds: its INTEGER columns are 32-bit on PostgreSQL."""
MAX_JSON_DEPTH = 64
"""Nesting allowed in a JSON body: far above the deepest real Telegram update or X event (about
ten levels), far below what exhausts the parser's recursion (about a thousand)."""

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_ASCII_DIGITS = re.compile(r"[0-9]{1,20}")


class InputError(Refused):
    """The request cannot be read: `status` is the 4xx to answer with, the text says why."""


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused (413) as soon as it is known to be longer than `limit` bytes.

    A Content-Length above the limit is refused before anything is read; the stream is counted
    as it arrives, since the header may be missing or lie.
    """
    length = request.headers.get("content-length")
    if length is not None:
        try:
            declared = ascii_int(length, hi=2**63 - 1)
        except ValueError:
            raise InputError(400, "the Content-Length header is not a number") from None
        if declared > limit:
            raise InputError(413, f"the body is larger than {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise InputError(413, f"the body is larger than {limit} bytes")
    return bytes(body)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"{text[:24]} is too large a number")
    return value


def _depth(text: str, max_depth: int) -> int:
    """How deeply `text` nests arrays and objects, counted up to just past `max_depth`.

    Brackets inside strings do not count; the text does not need to be valid JSON.
    """
    if text.count("[") + text.count("{") <= max_depth:
        return 0
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    deepest = 0
    for depth in accumulate(_STEP[c] for c in brackets):
        if depth > deepest:
            deepest = depth
            if deepest > max_depth:
                break
    return deepest


def is_valid_unicode(text: str) -> bool:
    """Whether `text` can be written as UTF-8: False when it holds a lone UTF-16 surrogate."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_json(body: bytes, *, max_depth: int = MAX_JSON_DEPTH, lone_surrogates: bool = False) -> Any:
    """The JSON document in `body` (UTF-8), or `InputError` (400) saying why there is none.

    Refused: invalid UTF-8 or JSON, NaN and Infinity (not JSON), nesting deeper than
    `max_depth`, and strings (keys too) holding a lone surrogate, unless `lone_surrogates` is
    True: then the caller must check the strings it keeps (see `is_valid_unicode`).
    """
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(400, f"the body is not valid JSON: it is not UTF-8 ({exc.reason})") from None
    if _depth(text, max_depth) > max_depth:
        raise InputError(400, f"the body is nested more than {max_depth} deep")
    try:
        document = json.loads(text or "null", parse_constant=_refuse_constant, parse_float=_finite)
    except ValueError as exc:
        raise InputError(400, f"the body is not valid JSON: {exc}") from None
    if not lone_surrogates and _SURROGATE_ESCAPE.search(text):
        # Only an escape can carry a lone surrogate; a pair of escapes is one valid character.
        if not is_valid_unicode(json.dumps(document, ensure_ascii=False)):
            raise InputError(400, "the body holds a lone UTF-16 surrogate (like \\ud800), which is not text")
    return document


async def read_json(request: Request, limit: int, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """`read_body` then `parse_json`: the request's JSON document, or `InputError`."""
    return parse_json(await read_body(request, limit), max_depth=max_depth)


def ascii_int(text: str | None, *, lo: int = 0, hi: int = MAX_STORED_INT) -> int:
    """`text` as a whole number from `lo` to `hi`, written in ASCII digits only.

    Raises:
        ValueError: anything else: a sign, spaces, "²", "١", or a number out of bounds.
    """
    if not isinstance(text, str) or not _ASCII_DIGITS.fullmatch(text):
        raise ValueError(f"{str(text)[:24]!r} is not a whole number in digits 0-9")
    value = int(text)
    if not lo <= value <= hi:
        raise ValueError(f"{value} is not between {lo} and {hi}")
    return value


def _numbers_up_to(limit: int) -> str:
    """A regular expression matching the decimal numbers from 0 to `limit` (leading zeros
    allowed below its length): Starlette converts a path parameter only after matching it, so
    the bound must be in the pattern for a larger number to be a 404 rather than a 500."""
    digits = str(limit)
    alternatives = [f"[0-9]{{1,{len(digits) - 1}}}"] if len(digits) > 1 else []
    for position, digit in enumerate(digits):
        lowest = 1 if position == 0 else 0
        if int(digit) > lowest:
            rest = len(digits) - position - 1
            alternatives.append(f"{digits[:position]}[{lowest}-{int(digit) - 1}][0-9]{{{rest}}}")
    alternatives.append(digits)
    return "|".join(f"(?:{a})" for a in alternatives)


class IdConvertor(Convertor[int]):
    """`{name:id}` in a route path: a row id from 0 to `MAX_STORED_INT`; a larger number does
    not match the route, so it is a 404 like any id that does not exist."""

    regex = _numbers_up_to(MAX_STORED_INT)

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        if not 0 <= int(value) <= MAX_STORED_INT:
            raise ValueError(f"{value} is not a row id")
        return str(int(value))


register_url_convertor("id", IdConvertor())
