"""The one typed settings object, read from the environment and `.env` at start-up.

Every other module receives a `Settings` instance; none reads `os.environ` itself. That keeps the
configuration visible in one place and lets tests build settings explicitly.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseSettings, Field, SecretStr, validator

from bot.x_costs import DEFAULT_PRICES_USD

__all__ = ["PROJECT_ROOT", "Settings"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Firstline's configuration. Environment variables are the field names prefixed `FIRSTLINE_`."""

    data_dir: Path = Field(
        PROJECT_ROOT / "var",
        description="Where the SQLite files live, with the generated session secret and the reports "
        "of `firstline nlu test`.",
    )
    database_url: str = Field(
        "",
        description="SQLAlchemy URL of Firstline's store (e.g. `postgresql://…`); empty means SQLite "
        "in data_dir.",
    )
    tracker_store_url: str = Field(
        "",
        description="SQLAlchemy URL of Rasa's tracker store; empty means SQLite in data_dir. "
        "'memory' keeps conversations in memory (tests, benchmarks).",
    )
    redis_url: str = Field(
        "",
        description="Redis URL for Rasa's lock store and the rate limits' counters (without it "
        "they are kept in the store); needed when several instances run.",
    )
    project_dir: Path = Field(PROJECT_ROOT, description="The Rasa project (config, domain, data).")
    model_dir: Path = Field(PROJECT_ROOT / "models", description="Where trained models are kept.")
    corpora_dir: Path = Field(
        PROJECT_ROOT.parent / "shared" / "corpora",
        description="Real-traffic corpora whose licences keep their texts out of this repository; "
        "the real-traffic yardstick (`bench/nlu_real.py`, `firstline nlu test`) reads tweet texts "
        "from here by id.",
    )
    action_server_url: str = Field(
        "",
        description="URL of a rasa-sdk action server; empty runs the actions inside the service.",
    )
    host: str = Field(
        "127.0.0.1", description="The address the service listens on (`firstline run --host` overrides it)."
    )
    port: int = Field(8080, description="The port it listens on (`firstline run --port` overrides it).")
    public_url: str = Field(
        "",
        description="The service's address as customers reach it; empty means http://host:port. It "
        "builds the web channel's links; when set, a configured Telegram bot gets its updates by "
        "webhook, and when it is https:// the cookies are Secure.",
    )

    brand_name: str = Field(
        "Kestrel",
        description="The brand's name, shown in the agent console and put into canned replies as `{brand}`.",
    )
    question_confidence: float = Field(
        0.6, description="A curated answer is only given above this response-selector confidence."
    )
    max_message_chars: int = Field(
        10_000, description="Inbound text longer than this is refused with a clear error."
    )
    review_confidence: float = Field(
        0.6, description="Messages the model was less sure of than this go to the trainers' review inbox."
    )
    review_margin: float = Field(
        0.1, description="So do messages whose second intent came within this much of the first."
    )
    log_level: str = Field(
        "INFO",
        description="Level of Firstline's own log (DEBUG, INFO, WARNING, ERROR); Rasa, TensorFlow, "
        "the web servers and the other chatty libraries log warnings only, whatever it says.",
    )
    log_format: Literal["text", "json"] = Field(
        "text",
        description="`text`: lines for people; `json`: one JSON object per line, for log pipelines. "
        "Either way a line written during a customer's turn names its case and message.",
    )
    session_secret: SecretStr | None = Field(
        None,
        description="Signs the agent console's session cookies and, with a derived key, the web "
        "channel's visitor cookies; empty means one generated once and kept in "
        "data_dir/session_secret. Set the same value on every instance.",
        shown_default="(generated)",
    )
    console_session_hours: float = Field(
        12.0,
        gt=0,
        description="A console sign-in ends this long after it began, however busy: a shift and a "
        "bit, so an agent signs in once per working day and a stolen cookie is worth a day at most.",
    )
    console_idle_minutes: float = Field(
        60.0,
        gt=0,
        description="A console session nobody used for this long ends. An open console tab polls "
        "every few seconds and so stays signed in; this ends the sessions of closed tabs and "
        "abandoned machines, whose cookie would otherwise work for the rest of the 12 hours. An "
        "hour, like the default pickup SLA: a coffee break never signs anyone out.",
    )

    # --- web channel identity -------------------------------------------------------------------
    web_identity_secret: SecretStr | None = Field(
        None,
        description="Shared with the brand's website, which sends identifier_hash = "
        "HMAC-SHA256(this, identifier) (hex) for its signed-in customer; a valid pair binds the "
        "visitor to that customer id (as Chatwoot's identity validation does). Empty: web visitors "
        "are anonymous, one per browser cookie.",
    )
    web_audience_cap: int = Field(
        0,
        ge=0,
        description="The most followers a web visitor may declare; 0 ignores the field. Only "
        "platforms report real audiences, so a web body must not be able to raise priority.",
    )

    # --- rate limits (per minute; 0 turns a limit off) ----------------------------------------
    rate_limit_web_per_address: int = Field(
        20,
        ge=0,
        description="Web channel messages a minute from one client address; beyond it, 429 with "
        "Retry-After and nothing is stored.",
    )
    rate_limit_web_per_visitor: int = Field(
        10,
        ge=0,
        description="Web channel messages a minute from one visitor identity; beyond it, 429 with "
        "Retry-After and nothing is stored.",
    )
    rate_limit_login_per_address: int = Field(
        20,
        ge=0,
        description="Console sign-in attempts a minute from one client address: guessing across "
        "many usernames stays slow (the per-username throttle handles one account) and password "
        "hashing cannot be made to fill the CPU. Raise it when a whole office signs in from one NAT.",
    )
    rate_limit_replies_per_account: int = Field(
        20,
        ge=0,
        description="Messages a minute the bot handles from one platform account. Beyond it a "
        "message is stored and marked 'limited' for the agents, but gets no bot reply and opens "
        "no handoff: a flood cannot fill the queue or make the brand's account spam.",
    )
    trusted_proxies: str = Field(
        "",
        description="Comma-separated addresses or networks of reverse proxies whose "
        "X-Forwarded-For is believed when counting limits per client address: the last address "
        "in it that is not a trusted proxy is the client. Empty believes none (the header can be "
        "forged by anyone who reaches the service directly).",
    )

    # --- delivery ----------------------------------------------------------------------------
    send_max_attempts: int = Field(
        6, description="Attempts before an outgoing message the platform keeps failing is dead-lettered."
    )
    send_backoff_seconds: float = Field(
        2.0,
        description="First retry delay; each later one doubles, capped at 5 minutes, and none is "
        "shorter than the platform asked for.",
    )
    max_reply_age: timedelta = Field(
        timedelta(hours=24),
        description="The bot does not answer a post or DM written longer ago than this (seconds, or "
        "ISO 8601 such as PT6H; 0: no limit): at the first start a poll brings in weeks-old posts, "
        "and a public reply to those does harm. They are stored and go to a person.",
    )
    turn_lease_seconds: float = Field(
        30.0,
        description="How long an accepted message, or a reply's first send, belongs to the instance "
        "handling it; if that instance dies, a running one finishes the work after this long.",
    )

    # --- business hours and SLA -----------------------------------------------------------------
    timezone: str = Field(
        "UTC", description="The brand's time zone (IANA name, e.g. Europe/Amsterdam) for business hours."
    )
    business_hours: str = Field(
        "",
        description="When the team works, e.g. 'Mon-Fri 09:00-18:00; Sat 10:00-14:00'; empty means "
        "always. Outside them the acknowledgement says when people are back and the SLA clock pauses.",
    )
    sla_pickup_minutes: float = Field(
        60.0,
        gt=0,
        description="Target business minutes from a handoff to a person picking it up; the queue's "
        "clock turns amber with under a quarter of it left, red when it has run out.",
    )
    followup_after_minutes: float = Field(
        120.0,
        ge=0,
        description='Once, a public "still here to help" when an invited customer has not come to '
        "the private chat after this long; 0 turns it off.",
    )
    checkback_after_hours: float = Field(
        0.0, ge=0, description="A check-back message this long after a case is resolved; 0 turns it off."
    )
    followup_poll_seconds: float = Field(5.0, gt=0, description="How often due follow-ups are looked for.")

    join_token_days: int = Field(
        7,
        ge=1,
        description="A case's private-chat invitation (its join token, which appears in a public "
        "reply) stops joining chats to the case this many days after the case opened.",
    )

    # --- Telegram ----------------------------------------------------------------------------
    telegram_token: SecretStr | None = Field(
        None, description="The bot token from @BotFather; Telegram stays off without it."
    )
    telegram_api_url: str = Field(
        "https://api.telegram.org/bot", description="Bot API base URL (a local Bot API server, tests)."
    )
    telegram_webhook_secret: SecretStr | None = Field(
        None,
        description="Telegram's secret_token for webhooks, 1-256 of A-Z a-z 0-9 _ -; required when "
        "public_url is set.",
    )

    # --- X -----------------------------------------------------------------------------------
    x_bearer_token: SecretStr | None = Field(
        None, description="The app's bearer token: reads mentions on the app's own rate limit."
    )
    x_consumer_key: SecretStr | None = Field(
        None, description="The app's API key (consumer key); X starts only when all five keys are set."
    )
    x_consumer_secret: SecretStr | None = Field(
        None,
        description="The API key's secret; it also signs Account Activity webhooks (CRC and event "
        "signatures).",
    )
    x_access_token: SecretStr | None = Field(
        None, description="The brand account's access token (OAuth 1.0a: the bot posts as that account)."
    )
    x_access_token_secret: SecretStr | None = Field(
        None, description="The secret that goes with the brand account's access token."
    )
    x_api_url: str = Field("https://api.twitter.com", description="X API host (a local fake, tests).")
    x_poll_seconds: float = Field(15.0, description="Pause between polls of mentions and DMs.")
    x_prices: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_PRICES_USD),
        shown_default="X's prices of December 2026",
        description="What X charges in USD, as JSON: post_read, user_read, dm_event_read (per "
        "resource), post_create, post_create_with_url, dm_create (per request). Operations left "
        "out keep today's prices (December 2026); the spend counter and the budget use them.",
    )
    x_daily_budget_usd: float | None = Field(
        None,
        ge=0,
        description="Most USD to spend on X in one UTC day. Past it the bot stops posting in public "
        "and hands every public X case to a person, with the reason on the case; unset: no budget.",
    )
    x_dm_invite: Literal["link", "text"] = Field(
        "link",
        description="How a public X reply invites to DM: link (a one-tap DM link; X charges a post "
        "with a URL 13 times more) or text (no URL: the customer quotes a reference in their DM).",
    )

    class Config:
        env_prefix = "FIRSTLINE_"
        env_file = ".env"
        env_file_encoding = "utf-8"
        allow_mutation = False

    @validator("data_dir", "model_dir", "project_dir", "corpora_dir")
    def _absolute(cls, value: Path) -> Path:  # noqa: N805 - pydantic validators take the class
        return value.expanduser().resolve()

    @validator("x_prices")
    def _prices(cls, value: dict[str, float]) -> dict[str, float]:  # noqa: N805 - pydantic validators take the class
        unknown = sorted(set(value) - set(DEFAULT_PRICES_USD))
        if unknown:
            raise ValueError(f"unknown X operations {unknown}; known: {', '.join(DEFAULT_PRICES_USD)}")
        if any(price < 0 for price in value.values()):
            raise ValueError("a price cannot be negative")
        return {**DEFAULT_PRICES_USD, **value}

    @validator("trusted_proxies")
    def _proxies(cls, value: str) -> str:  # noqa: N805 - pydantic validators take the class
        import ipaddress

        for part in value.split(","):
            if part.strip():
                ipaddress.ip_network(part.strip(), strict=False)  # ValueError: pydantic says which
        return value

    @property
    def store_url(self) -> str:
        """The store URL, defaulting to a SQLite file so a newcomer needs no database server."""
        return self.database_url or f"sqlite:///{self.data_dir / 'firstline.db'}"

    @property
    def rasa_tracker_url(self) -> str:
        return self.tracker_store_url or f"sqlite:///{self.data_dir / 'rasa_tracker.db'}"

    def secret_values(self) -> list[str]:
        """Every secret that is set (each `SecretStr` field): the log redacts them wherever they appear."""
        values = (getattr(self, name) for name in self.__fields__)
        return [value.get_secret_value() for value in values if isinstance(value, SecretStr)]

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")
