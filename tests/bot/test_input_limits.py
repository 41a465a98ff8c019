"""Untrusted input: JSON depth and lone surrogates, ASCII integers, and row ids in route paths."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bot.input_limits import MAX_JSON_DEPTH, MAX_STORED_INT, IdConvertor, InputError, ascii_int, parse_json


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"", None),
        (b'{"a": [1, {"b": "x"}]}', {"a": [1, {"b": "x"}]}),
        (b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH, ...),
        (b'{"a": "' + b"[" * 100 + b'"}', {"a": "[" * 100}),  # brackets in strings do not nest
        (b'{"a": "\\"' + b"{" * 100 + b'"}', {"a": '"' + "{" * 100}),
        (b'{"emoji": "\\ud83d\\ude00"}', {"emoji": "😀"}),
        (b'{"not a surrogate": "\\\\ud800"}', {"not a surrogate": "\\ud800"}),
        ('{"name": "Zoë"}'.encode(), {"name": "Zoë"}),
        (b"\xef\xbb\xbf[1]", [1]),
    ],
)
def test_parse_json_reads_what_is_valid(body: bytes, expected: Any) -> None:
    parsed = parse_json(body)
    assert expected is ... or parsed == expected


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"[" * 100_000, "nested"),
        (b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1), "nested"),
        (b'{"a": ' + b'{"b": ' * MAX_JSON_DEPTH + b"1" + b"}" * MAX_JSON_DEPTH + b"}", "nested"),
        (b"[" * 100_000 + b'"' + b"]" * 100_000, "nested"),
        (b'"\\ud800"', "surrogate"),
        (b'{"a": ["x", "\\udfff"]}', "surrogate"),
        (b'{"\\ud800": 1}', "surrogate"),
        (b'"\\ude00\\ud83d"', "surrogate"),
        (b"NaN", "not valid JSON"),
        (b"[Infinity]", "not valid JSON"),
        (b"1e400", "not valid JSON"),
        (b"1" * 5000, "not valid JSON"),
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "UTF-8"),
        ('"x"'.encode("utf-16"), "UTF-8"),
    ],
    ids=lambda value: value[:30] if isinstance(value, bytes) else value,
)
def test_parse_json_refuses_with_a_400(body: bytes, error: str) -> None:
    with pytest.raises(InputError, match=error) as raised:
        parse_json(body)
    assert raised.value.status == 400


def test_lone_surrogates_may_be_left_to_the_caller() -> None:
    assert parse_json(b'{"text": "hi \\ud800"}', lone_surrogates=True) == {"text": "hi \ud800"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0", 0), ("7", 7), ("007", 7), (str(MAX_STORED_INT), MAX_STORED_INT)],
)
def test_ascii_int_reads_ascii_digits(text: str, expected: int) -> None:
    assert ascii_int(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        None,
        5,
        "",
        " 1",
        "1 ",
        "+1",
        "-1",
        "1.0",
        "1e3",
        "²",
        "١",
        "１",
        "0x10",
        "1_000",
        str(MAX_STORED_INT + 1),
        str(2**63),
        "9" * 5000,
    ],
)
def test_ascii_int_refuses_anything_else(text: Any) -> None:
    with pytest.raises(ValueError):
        ascii_int(text)


def test_ascii_int_bounds_are_the_callers() -> None:
    assert ascii_int("5", lo=5, hi=5) == 5
    with pytest.raises(ValueError):
        ascii_int("4", lo=5)
    assert ascii_int(str(2**63 - 1), hi=2**63 - 1) == 2**63 - 1


@pytest.mark.parametrize(
    ("path", "matches"),
    [
        ("0", True),
        ("1", True),
        ("999999999", True),
        ("1000000000", True),
        ("2147483647", True),
        ("2099999999", True),
        ("2147483639", True),
        ("2147483648", False),
        ("2147483650", False),
        ("2200000000", False),
        ("3000000000", False),
        ("9999999999", False),
        ("10000000000", False),
        (str(2**63), False),
        ("", False),
        ("-1", False),
        ("²", False),
        ("1a", False),
    ],
)
def test_route_ids_match_only_numbers_the_store_holds(path: str, matches: bool) -> None:
    assert (re.fullmatch(IdConvertor.regex, path) is not None) is matches
    if matches:
        assert IdConvertor().convert(path) == int(path) <= MAX_STORED_INT
