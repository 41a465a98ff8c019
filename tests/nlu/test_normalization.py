"""Tables of raw social text -> normalised tokens and their raw-text offsets."""

from __future__ import annotations

import pytest

from nlu.normalization import (
    EMAIL_TOKEN,
    MENTION_TOKEN,
    URL_TOKEN,
    TokenKind,
    collapse_elongation,
    emoji_token,
    normalise,
    normalise_word,
    split_hashtag,
)


def _texts(text: str) -> list[str]:
    return [token.text for token in normalise(text)]


def _spans(text: str) -> list[tuple[str, int, int]]:
    return [(token.text, token.start, token.end) for token in normalise(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Where is my parcel", ["where", "is", "my", "parcel"]),
        ("WHERE IS MY PARCEL", ["where", "is", "my", "parcel"]),
        ("sooooo late", ["soo", "late"]),
        ("pleeeease help", ["pleease", "help"]),
        ("SOOOooo ANGRY", ["soo", "angry"]),
        ("good food, all well", ["good", "food", "all", "well"]),
        ("I don't know", ["i", "don't", "know"]),
        ("I’m done, don’t care", ["i'm", "done", "don't", "care"]),
        ("customers' orders", ["customers", "orders"]),
        ("order 1000 items for 2009", ["order", "1000", "items", "for", "2009"]),
        ("paid 10.50 at 10:30 on 12/05, 24/7", ["paid", "10.50", "at", "10:30", "on", "12/05", "24/7"]),
        ("a t-shirt e.g. from AT&T", ["a", "t-shirt", "e.g", "from", "at&t"]),
        ("Café cafe\u0301", ["café", "café"]),
        ("hello, world.", ["hello", "world"]),
        ("why!!!!", ["why", "!!"]),
        ("why???", ["why", "??"]),
        ("why?!?!", ["why", "?!"]),
        ("why ‼", ["why", "!!"]),
        ("ok! fine? yes.", ["ok", "fine", "yes"]),
    ],
)
def test_words_and_punctuation(text: str, expected: list[str]) -> None:
    assert _texts(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("see https://acme.com/help?x=1 now", ["see", URL_TOKEN, "now"]),
        ("HTTP://ACME.COM", [URL_TOKEN]),
        ("www.acme.com/a.", [URL_TOKEN]),
        ("link bit.ly/3xYz and t.co/AbC", ["link", URL_TOKEN, "and", URL_TOKEN]),
        ("look https://t.co/x!!!", ["look", URL_TOKEN, "!!"]),
        ("@AcmeHelp @acme_uk hi", [MENTION_TOKEN, MENTION_TOKEN, "hi"]),
        ("mail bob.smith+x@gmail.com", ["mail", EMAIL_TOKEN]),
        ("me@home", ["me", "home"]),
    ],
)
def test_placeholders(text: str, expected: list[str]) -> None:
    assert _texts(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("#NeverAgain", [("never", 0, 11), ("again", 0, 11)]),
        ("so #fail", [("so", 0, 2), ("fail", 3, 8)]),
        ("#WTF", [("wtf", 0, 4)]),
        ("#never_again", [("never", 0, 12), ("again", 0, 12)]),
        ("#HTTPError", [("http", 0, 10), ("error", 0, 10)]),
        ("#Sooooo", [("soo", 0, 7)]),
        # A hashtag of digits is an order number: the digits and their own offsets.
        ("order #4839201", [("order", 0, 5), ("4839201", 7, 14)]),
        ("C# rocks", [("c", 0, 1), ("rocks", 3, 8)]),
    ],
)
def test_hashtags(text: str, expected: list[tuple[str, int, int]]) -> None:
    assert _spans(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("late 😡", [("late", 0, 4), ("emoji_pouting_face", 5, 6)]),
        ("😡😡", [("emoji_pouting_face", 0, 1), ("emoji_pouting_face", 1, 2)]),
        # Skin tone and variation selector are dropped, the base emoji keeps its own offsets.
        ("👍🏽 ❤️", [("emoji_thumbs_up_sign", 0, 1), ("emoji_heavy_black_heart", 3, 4)]),
        # Zero-width joiners are dropped; each person of the family stays.
        (
            "👨\u200d👩\u200d👧",
            [("emoji_man", 0, 1), ("emoji_woman", 2, 3), ("emoji_girl", 4, 5)],
        ),
        ("🇬🇧", [("emoji_flag_gb", 0, 2)]),
        ("ok👌", [("ok", 0, 2), ("emoji_ok_hand_sign", 2, 3)]),
        ("20°C", [("20", 0, 2), ("c", 3, 4)]),
    ],
)
def test_emoji(text: str, expected: list[tuple[str, int, int]]) -> None:
    assert _spans(text) == expected


def test_offsets_point_into_raw_text() -> None:
    text = "@acme my order #4839201 is SOOOOO late!!!! 😡 https://t.co/xYz."
    assert [(token.text, text[token.start : token.end]) for token in normalise(text)] == [
        (MENTION_TOKEN, "@acme"),
        ("my", "my"),
        ("order", "order"),
        ("4839201", "4839201"),
        ("is", "is"),
        ("soo", "SOOOOO"),
        ("late", "late"),
        ("!!", "!!!!"),
        ("emoji_pouting_face", "😡"),
        (URL_TOKEN, "https://t.co/xYz"),
    ]


@pytest.mark.parametrize(
    ("text", "kind", "alt_start"),
    [
        ("#4839201", TokenKind.NUMBER, 0),
        ("#NeverAgain", TokenKind.HASHTAG, 1),
        ("@acme", TokenKind.MENTION, 1),
        ("4839201", TokenKind.NUMBER, None),
        ("https://acme.com", TokenKind.URL, None),
    ],
)
def test_alternative_start(text: str, kind: TokenKind, alt_start: int | None) -> None:
    token = normalise(text)[0]
    assert (token.kind, token.alt_start) == (kind, alt_start)


@pytest.mark.parametrize("text", ["", "   ", "\n\t", ":)", "...", "- * -", "\u200d\ufe0f"])
def test_nothing_to_keep(text: str) -> None:
    assert normalise(text) == []


def test_100_kb_of_social_text() -> None:
    chunk = "@acme my order #4839201 is sooooo late!!! 😡 https://t.co/x #NeverAgain "
    text = chunk * (100_000 // len(chunk))
    tokens = normalise(text)
    assert len(tokens) == 12 * (100_000 // len(chunk))
    assert tokens[-1].end <= len(text)


@pytest.mark.parametrize(
    "text",
    ["a" * 100_000, "a." * 50_000, "!?" * 50_000, "😡" * 100_000, "x@" * 50_000, "#" * 100_000],
    ids=["one-word", "dotted", "bangs", "emoji", "at-signs", "hashes"],
)
def test_pathological_long_text(text: str) -> None:
    assert all(0 <= token.start < token.end <= len(text) for token in normalise(text))


@pytest.mark.parametrize(
    ("word", "expected"),
    [("sooooo", "soo"), ("pleeeease", "pleease"), ("good", "good"), ("1000000", "1000000"), ("zzz", "zz")],
)
def test_collapse_elongation(word: str, expected: str) -> None:
    assert collapse_elongation(word) == expected


@pytest.mark.parametrize(
    ("word", "expected"),
    [("DON’T", "don't"), ("Ｗｅｉｒｄ", "ｗｅｉｒｄ"), ("NOOOOO", "noo")],
)
def test_normalise_word(word: str, expected: str) -> None:
    assert normalise_word(word) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("NeverAgain", ["Never", "Again"]),
        ("neverAgain", ["never", "Again"]),
        ("HTTPError", ["HTTP", "Error"]),
        ("iPhone15Broken", ["i", "Phone", "15", "Broken"]),
        ("never_again", ["never", "again"]),
        ("fail", ["fail"]),
        ("WTF", ["WTF"]),
        ("4839201", ["4839201"]),
        ("ÉtéPourri", ["Été", "Pourri"]),
        ("__", []),
    ],
)
def test_split_hashtag(body: str, expected: list[str]) -> None:
    assert split_hashtag(body) == expected


@pytest.mark.parametrize(
    ("symbol", "expected"),
    [
        ("😡", "emoji_pouting_face"),
        ("❤", "emoji_heavy_black_heart"),
        ("©", "emoji_copyright_sign"),
        ("!", None),
        ("°", None),
        ("\u200d", None),
        ("\ufe0f", None),
        ("🏽", None),
        ("ab", None),
    ],
)
def test_emoji_token(symbol: str, expected: str | None) -> None:
    assert emoji_token(symbol) == expected
