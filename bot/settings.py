"""The one typed settings object, read from the environment and `.env` at start-up.

Every other module receives a `Settings` instance; none reads `os.environ` itself. That keeps the
configuration visible in one place and lets tests build settings explicitly.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseSettings, Field, SecretStr, validator

__all__ = ["PROJECT_ROOT", "Settings"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Firstline's configuration. Environment variables are the field names prefixed `FIRSTLINE_`."""

    data_dir: Path = Field(PROJECT_ROOT / "var", description="Where the SQLite files live.")
    database_url: str = Field(
        "", description="SQLAlchemy URL of Firstline's store; empty means SQLite in data_dir."
    )
    tracker_store_url: str = Field(
        "",
        description="SQLAlchemy URL of Rasa's tracker store; empty means SQLite in data_dir. "
        "'memory' keeps conversations in memory (tests, benchmarks).",
    )
    redis_url: str = Field(
        "", description="Redis URL for Rasa's lock store; needed when several instances run."
    )
    project_dir: Path = Field(PROJECT_ROOT, description="The Rasa project (config, domain, data).")
    model_dir: Path = Field(PROJECT_ROOT / "models", description="Where trained models are kept.")
    action_server_url: str = Field(
        "",
        description="URL of a rasa-sdk action server; empty runs the actions inside the service.",
    )
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = Field(
        "", description="The service's address as customers reach it; builds web DM links."
    )

    brand_name: str = "Kestrel"
    question_confidence: float = Field(
        0.6, description="A curated answer is only given above this response-selector confidence."
    )
    max_message_chars: int = Field(
        10_000, description="Inbound text longer than this is refused with a clear error."
    )
    log_level: str = "INFO"

    telegram_token: SecretStr | None = None
    x_bearer_token: SecretStr | None = None

    class Config:
        env_prefix = "FIRSTLINE_"
        env_file = ".env"
        env_file_encoding = "utf-8"
        allow_mutation = False

    @validator("data_dir", "model_dir", "project_dir")
    def _absolute(cls, value: Path) -> Path:  # noqa: N805 - pydantic validators take the class
        return value.expanduser().resolve()

    @property
    def store_url(self) -> str:
        """The store URL, defaulting to a SQLite file so a newcomer needs no database server."""
        return self.database_url or f"sqlite:///{self.data_dir / 'firstline.db'}"

    @property
    def rasa_tracker_url(self) -> str:
        return self.tracker_store_url or f"sqlite:///{self.data_dir / 'rasa_tracker.db'}"

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")
