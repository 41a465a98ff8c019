from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.acknowledgement import AckRequest, compose_acknowledgement, first_name
from bot.settings import PROJECT_ROOT
from bot.text_limits import measure


def _phrases() -> dict[str, list[str]]:
    domain = yaml.safe_load(Path(PROJECT_ROOT / "domain.yml").read_text())
    return {name: [v["text"] for v in variants] for name, variants in domain["responses"].items()}


PHRASES = _phrases()
# A real top-level domain: X shortens (and counts as 23) only what it recognises as a URL.
LONG_LINK = "https://support.kestrel.com/?user=someone_with_a_long_handle&join=AbCdEfGhIjKl#private"


def _request(**overrides: object) -> AckRequest:
    values: dict[str, object] = {
        "platform": "x",
        "public": True,
        "limit": 280,
        "seed": "42",
        "name": "Alice",
        "topic": "delivery",
        "dm_link": LONG_LINK,
    }
    values.update(overrides)
    return AckRequest(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", [str(n) for n in range(40)])
def test_public_ack_on_x_fits_280_and_carries_the_dm_link(seed: str) -> None:
    text = compose_acknowledgement(PHRASES, _request(seed=seed))
    assert measure(text, "x") <= 280
    assert LONG_LINK in text


@pytest.mark.parametrize("seed", [str(n) for n in range(20)])
def test_ack_always_apologises(seed: str) -> None:
    text = compose_acknowledgement(PHRASES, _request(seed=seed))
    assert any(apology in text for apology in PHRASES["utter_ack_apology"])


def test_wording_varies_between_messages() -> None:
    texts = {compose_acknowledgement(PHRASES, _request(seed=str(n))) for n in range(30)}
    assert len(texts) >= 10


def test_same_message_same_wording() -> None:
    assert compose_acknowledgement(PHRASES, _request()) == compose_acknowledgement(PHRASES, _request())


def test_topic_line_is_used_when_known() -> None:
    text = compose_acknowledgement(PHRASES, _request(limit=2000, platform="web"))
    assert any(line in text for line in PHRASES["utter_complaint/delivery"])


def test_personal_data_switches_to_the_privacy_invitation() -> None:
    text = compose_acknowledgement(PHRASES, _request(personal_data_posted=True, limit=2000, platform="web"))
    privacy = [t.replace("{dm_link}", LONG_LINK) for t in PHRASES["utter_dm_privacy"]]
    assert any(p in text for p in privacy)


def test_private_chat_gets_no_invitation() -> None:
    text = compose_acknowledgement(PHRASES, _request(public=False, platform="telegram", limit=4096))
    assert LONG_LINK not in text
    assert "DM" not in text


def test_drops_optional_parts_when_space_is_tight() -> None:
    text = compose_acknowledgement(PHRASES, _request(limit=110))
    assert LONG_LINK in text
    assert measure(text, "x") <= 110
    assert not any(o.replace("{name}", "Alice") in text for o in PHRASES["utter_ack_opening"])


def test_no_name_reads_naturally() -> None:
    for seed in range(10):
        text = compose_acknowledgement(PHRASES, _request(name=None, seed=str(seed), limit=2000))
        assert "{name}" not in text
        assert ", ." not in text and " ," not in text
        assert text[0].isupper()


@pytest.mark.parametrize(
    ("display_name", "expected"),
    [
        ("Ana", "Ana"),
        ("Bob", "Bob"),
        ("Alice Smith", "Alice"),
        ("  Alice   Smith ", "Alice"),
        ("Jean-Luc Picard", "Jean-Luc"),
        ("O'Brien", "O'Brien"),
        ("Mary Ann McDonald", "Mary"),
        ("José", "José"),
        ("Zoë", "Zoë"),
        ("Łukasz", "Łukasz"),
        ("Ångström", "Ångström"),
        ("J Smith", "J"),
        ("Анна", "Анна"),
        ("李明", "李明"),
        # Not name-shaped: no name at all.
        ("Scammers!", None),
        ("SCAMMERS", None),
        ("AL", None),
        ("xX_l33t_Xx", None),
        ("alice smith", None),
        ("@carol_", None),
        ("user12345", None),
        ("😡😡", None),
        ("Ana 😡", None),
        ("Your Brand Is Garbage", None),
        ("Refund Me Now Please", None),
        ("Ana-", None),
        ("-Ana", None),
        ("Ana--Maria", None),
        ("A" + "a" * 30, None),
        ("Ana <script>", None),
        ("Dr. Who", None),
        ("", None),
        (None, None),
        ("   ", None),
    ],
)
def test_first_name(display_name: str | None, expected: str | None) -> None:
    assert first_name(display_name) == expected


@pytest.mark.parametrize("seed", [str(n) for n in range(30)])
def test_after_hours_ack_keeps_when_the_team_is_back_within_280(seed: str) -> None:
    text = compose_acknowledgement(PHRASES, _request(seed=seed, back_at="Monday at 09:00 CEST"))
    assert measure(text, "x") <= 280
    assert LONG_LINK in text and "Monday at 09:00 CEST" in text
    assert not any(step in text for step in PHRASES["utter_ack_next_step"])


def test_after_hours_public_ack_without_a_dm_link_ends_with_the_time() -> None:
    text = compose_acknowledgement(PHRASES, _request(dm_link=None, back_at="tomorrow at 09:00 CET"))
    assert text.endswith(("tomorrow at 09:00 CET.", "and will pick this up then.", "take it from there."))
    assert "tomorrow at 09:00 CET" in text


def test_after_hours_ack_works_with_a_domain_older_than_the_back_at_wording() -> None:
    older = {key: value for key, value in PHRASES.items() if key != "utter_back_at"}
    text = compose_acknowledgement(older, _request(back_at="Monday at 09:00 CET"))
    assert "Our team is back Monday at 09:00 CET" in text
