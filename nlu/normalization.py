"""Social-media text normalisation, kept free of Rasa so it can be tested on its own.

Customers write "@acme my order #4839201 is sooooo late!!! 😡 https://t.co/x". A plain whitespace
tokenizer turns that into many rare words: every URL and handle is unique, the emoji is thrown
away and "sooooo" never matches "so". `normalise` maps the surface variation onto a small shared
vocabulary while every token keeps the character offsets of the raw text it came from, because
entity annotations and extracted entity values are expressed in raw-text offsets.
"""

from __future__ import annotations

import enum
import logging
import re
import unicodedata
from dataclasses import dataclass

__all__ = [
    "EMAIL_TOKEN",
    "MENTION_TOKEN",
    "URL_TOKEN",
    "NormalisedToken",
    "TokenKind",
    "collapse_elongation",
    "emoji_token",
    "normalise",
    "normalise_word",
    "split_hashtag",
]

logger = logging.getLogger(__name__)

URL_TOKEN = "__url__"
MENTION_TOKEN = "__mention__"
EMAIL_TOKEN = "__email__"


class TokenKind(str, enum.Enum):
    """What a token stood for in the raw text; placeholders are never split further."""

    WORD = "word"
    NUMBER = "number"
    HASHTAG = "hashtag"
    URL = "url"
    EMAIL = "email"
    MENTION = "mention"
    EMOJI = "emoji"
    PUNCTUATION = "punctuation"


@dataclass(frozen=True, slots=True)
class NormalisedToken:
    """One token: normalised text plus the raw-text span it covers.

    `alt_start` is a second start offset an annotator may reasonably have chosen for the same
    token, e.g. the "#" of "#4839201" when the token itself starts at the digits. A tokenizer
    that knows the annotated entities can use it to keep both annotation styles aligned.
    """

    text: str
    start: int
    end: int
    kind: TokenKind
    alt_start: int | None = None

    @property
    def aligned(self) -> bool:
        """Whether each character of `text` sits at the same offset in the raw span.

        Only then can a sub-string of `text` be mapped back to raw offsets.
        """
        return self.kind in (TokenKind.WORD, TokenKind.NUMBER) and (len(self.text) == self.end - self.start)


# Letters only: "1000" and "2009" must survive, "sooooo" must not.
_ELONGATION = re.compile(r"([^\W\d_])\1{2,}")
# Curly and modifier apostrophes (and the backtick people type instead) become "'".
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})
_APOSTROPHE_CLASS = "'\u2019\u2018\u02bc`"

_WORD_BODY = r"\w[\w\u0300-\u036f]*"
_URL_TAIL_PUNCTUATION = ".,;:!?'\")]}>\u2019\u201d"
_REGIONAL_INDICATOR_A = 0x1F1E6

# Alternatives are tried in order at each position, so the more specific shapes come first:
# an e-mail address must win over the "@mention" inside it, a URL over the words inside it.
_TOKEN_PATTERN = re.compile(
    r"""
    (?P<url>
        (?i:https?://|(?<![\w.@/])www\.|(?<![\w.@/])(?:bit\.ly|t\.co)/)\S+
    )
    | (?P<email>
        (?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+
    )
    | (?P<mention>
        (?<![\w@])@(?P<handle>\w+)
    )
    | (?P<hashtag>
        (?<![\w&\#])\#(?P<tag>\w+)
    )
    | (?P<word>
        """
    + _WORD_BODY
    + r"""
        (?:
            (?:[-.&"""
    + _APOSTROPHE_CLASS
    + r"""]|(?<=\d)[,:/](?=\d))
            """
    + _WORD_BODY
    + r"""
        )*
    )
    | (?P<bangs>
        (?:[!?\uff01\uff1f\u203c\u2049]){2,}|[\u203c\u2049]
    )
    | (?P<flag>
        [\U0001F1E6-\U0001F1FF]{2}
    )
    | (?P<symbol>
        [^\w\s]
    )
    """,
    re.VERBOSE,
)

_BANG_EXPANSION = str.maketrans({"\uff01": "!", "\uff1f": "?", "\u203c": "!!", "\u2049": "!?"})


def normalise(text: str) -> list[NormalisedToken]:
    """Split social-media text into normalised tokens with raw-text offsets.

    Args:
        text: The raw message text.

    Returns:
        The tokens in text order; empty when the text holds nothing but whitespace and
        punctuation that carries no tone.
    """
    tokens: list[NormalisedToken] = []
    position = 0
    while True:
        match = _TOKEN_PATTERN.search(text, position)
        if match is None:
            break
        kind = match.lastgroup
        start, end = match.span()
        if kind == "url":
            # Greedy \S+ swallows the sentence's closing punctuation; give it back so that
            # "see https://x.co/a!!!" still yields the "!!" token.
            kept = len(match.group().rstrip(_URL_TAIL_PUNCTUATION))
            end = start + max(kept, _url_prefix_length(match.group()))
            tokens.append(NormalisedToken(URL_TOKEN, start, end, TokenKind.URL))
        elif kind == "email":
            tokens.append(NormalisedToken(EMAIL_TOKEN, start, end, TokenKind.EMAIL))
        elif kind == "mention":
            tokens.append(
                NormalisedToken(MENTION_TOKEN, start, end, TokenKind.MENTION, alt_start=match.start("handle"))
            )
        elif kind == "hashtag":
            tokens.extend(_hashtag_tokens(match.group("tag"), start, match.start("tag"), end))
        elif kind == "word":
            word = normalise_word(match.group())
            word_kind = TokenKind.NUMBER if _is_number(word) else TokenKind.WORD
            tokens.append(NormalisedToken(word, start, end, word_kind))
        elif kind == "bangs":
            tokens.append(NormalisedToken(_normalise_bangs(match.group()), start, end, TokenKind.PUNCTUATION))
        elif kind == "flag":
            tokens.append(NormalisedToken(_flag_token(match.group()), start, end, TokenKind.EMOJI))
        else:
            name = emoji_token(match.group())
            if name is not None:
                tokens.append(NormalisedToken(name, start, end, TokenKind.EMOJI))
        position = end
    return tokens


def normalise_word(word: str) -> str:
    """Lowercase a word, straighten its apostrophes and collapse elongations.

    NFC keeps a decomposed "café" (e + combining accent) equal to the composed one.
    """
    lowered = unicodedata.normalize("NFC", word.lower().translate(_APOSTROPHES))
    return collapse_elongation(lowered)


def collapse_elongation(word: str) -> str:
    """Cut runs of three or more equal letters down to two ("sooooo" -> "soo").

    Two rather than one, so that real double letters ("good", "all") are left alone and every
    elongated spelling of a word meets the same form.
    """
    return _ELONGATION.sub(r"\1\1", word)


def split_hashtag(body: str) -> list[str]:
    """Split a hashtag body into its words ("NeverAgain" -> ["Never", "Again"]).

    Splits on underscores, lower-to-upper case changes, the end of an upper-case run that
    starts a capitalised word ("HTTPError" -> "HTTP", "Error") and letter/digit changes.
    A body without such boundaries ("fail", "WTF") comes back whole.
    """
    parts: list[str] = []
    for chunk in body.split("_"):
        current = ""
        for index, char in enumerate(chunk):
            if current and _is_word_boundary(chunk, index):
                parts.append(current)
                current = ""
            current += char
        if current:
            parts.append(current)
    return parts


def emoji_token(symbol: str) -> str | None:
    """Name a pictographic symbol as a token ("😡" -> "emoji_pouting_face").

    Returns None for characters that are not pictographs (plain punctuation) and for the
    invisible helpers of emoji sequences (skin tones, variation selectors, zero-width joiner),
    which are dropped: the base emoji already carries the meaning.
    """
    if len(symbol) != 1:
        return None
    category = unicodedata.category(symbol)
    # "So" also covers the degree sign and similar Latin-1 marks, which are not emoji.
    if category != "So" or (ord(symbol) <= 0xFF and symbol not in "\u00a9\u00ae"):
        return None
    name = unicodedata.name(symbol, "")
    if not name:
        return None
    return "emoji_" + re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def _is_number(word: str) -> bool:
    """Separators between digits keep a number ("10.50", "24/7"); one letter makes a word."""
    return word[:1].isdigit() and not any(char.isalpha() for char in word)


def _is_word_boundary(chunk: str, index: int) -> bool:
    previous, char = chunk[index - 1], chunk[index]
    if previous.isdigit() != char.isdigit():
        return True
    if char.isupper() and not previous.isupper():
        return True
    following = chunk[index + 1] if index + 1 < len(chunk) else ""
    return char.isupper() and previous.isupper() and following.islower()


def _hashtag_tokens(tag: str, start: int, tag_start: int, end: int) -> list[NormalisedToken]:
    if tag.isdigit():
        # "#4839201" is an order number, not a topic: keep the digits and their own offsets so
        # that the extracted value has no "#", and remember the "#" for annotations that
        # include it.
        return [NormalisedToken(tag, tag_start, end, TokenKind.NUMBER, alt_start=start)]
    # Every word of the hashtag shares its span: the words have no raw offsets of their own once
    # lowercased, and entity boundaries in the data sit on the hashtag's edges.
    return [
        NormalisedToken(normalise_word(part), start, end, TokenKind.HASHTAG, alt_start=tag_start)
        for part in split_hashtag(tag)
    ]


def _normalise_bangs(run: str) -> str:
    marks = set(run.translate(_BANG_EXPANSION))
    if marks == {"!"}:
        return "!!"
    if marks == {"?"}:
        return "??"
    return "?!"


def _flag_token(pair: str) -> str:
    letters = "".join(chr(ord(char) - _REGIONAL_INDICATOR_A + ord("a")) for char in pair)
    return "emoji_flag_" + letters


def _url_prefix_length(url: str) -> int:
    """Length of the scheme or host prefix, which trailing-punctuation stripping must keep."""
    lowered = url.lower()
    for prefix in ("https://", "http://", "www.", "bit.ly/", "t.co/"):
        if lowered.startswith(prefix):
            return len(prefix)
    return len(url)
