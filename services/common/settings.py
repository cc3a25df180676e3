"""Settings from the environment (prefix SW_), validated at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.generations import Generations

SERVICES = ("gateway", "customs", "inspection", "forex", "tax")
PLACEHOLDER_SECRETS = {"sk_test_singlewindow_demo", "admin_test_singlewindow", "", "changeme"}


class Settings(BaseSettings):
    """Every setting of every process; each is documented in the README."""

    model_config = SettingsConfigDict(env_prefix="SW_", extra="ignore")

    kafka_bootstrap: str = Field(
        default="127.0.0.1:9092",
        description="Kafka bootstrap servers. When set in the environment, `up` uses it and "
        "does not start the embedded broker.",
    )
    broker_port: int = Field(default=9092, description="Port of the embedded broker.")
    partitions: int = Field(
        default=2,
        ge=1,
        description="Partitions of each topic created (`up` raises it to the most replicas "
        "of a service); on a real cluster use more.",
    )
    replication_factor: int = Field(default=1, ge=1, description="Replication of topics created.")
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT", description="How every Kafka client connects."
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        default="PLAIN", description="SASL mechanism when the protocol is SASL_*."
    )
    kafka_sasl_username: str | None = Field(default=None, description="SASL user name.")
    kafka_sasl_password: SecretStr | None = Field(default=None, description="SASL password.")
    kafka_ssl_cafile: Path | None = Field(
        default=None, description="CA bundle that signed the brokers' certificates (SSL, SASL_SSL)."
    )
    kafka_ssl_certfile: Path | None = Field(
        default=None, description="Client certificate, for brokers that require mutual TLS."
    )
    kafka_ssl_keyfile: Path | None = Field(default=None, description="Client certificate's key.")
    kafka_group_prefix: str = Field(
        default="sw-",
        description="Prefix of consumer group names: a service consumes as `<prefix><service>`.",
    )
    host: str = Field(default="127.0.0.1", description="Address the HTTP servers bind to.")
    port_base: int = Field(
        default=8000, description="Gateway port; customs, inspection, forex, tax use the next four."
    )
    data_dir: Path = Field(default=Path("var"), description="Folder of the SQLite files.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL template with `{service}`, e.g. "
        "postgresql+asyncpg://u:p@db/sw_{service}. Default: SQLite files in data_dir.",
    )
    run_seed: int = Field(default=20261122, description="Seed of every simulated decision.")
    demo_api_key: str = Field(
        default="sk_test_singlewindow_demo", description="API key of the demo enterprise."
    )
    admin_token: str = Field(
        default="admin_test_singlewindow", description="Bearer token of the admin endpoints."
    )
    sandbox: bool = Field(
        default=True, description="Sandbox mode; when false, placeholder secrets are refused."
    )
    test_helpers: bool = Field(
        default=True,
        description="Serve /v1/test_helpers (forced outcomes, sandbox clock); false: 404.",
    )
    step_deadline_s: float = Field(
        default=10.0,
        gt=0,
        description="Seconds a saga step may wait before its command is re-sent.",
    )
    step_max_attempts: int = Field(
        default=5, ge=1, description="Sends of one command before the declaration is `stalled`."
    )
    max_body_bytes: int = Field(
        default=1_048_576,
        ge=1024,
        description="Largest request body accepted; a larger one is answered 413.",
    )
    admin_enabled: bool = Field(
        default=True,
        description="Whether the admin endpoints (gateway /v1/admin/*, agencies' /v1/records) "
        "answer at all; when false they answer 404.",
    )
    demo_stage_s: float = Field(
        default=3.0,
        gt=0,
        le=3600,
        description="Seconds each stage of a `demo`-paced declaration waits before it goes out.",
    )
    webhook_timeout_s: float = Field(
        default=5.0, gt=0, le=60, description="Seconds a webhook receiver has to answer."
    )
    webhook_max_attempts: int = Field(
        default=8, ge=1, le=100, description="Attempts of one webhook delivery before `failed`."
    )
    webhook_backoff_s: float = Field(
        default=2.0, gt=0, description="Wait after a webhook's first failed attempt (doubles)."
    )
    webhook_backoff_max_s: float = Field(
        default=600.0, gt=0, description="Longest wait between two attempts of a webhook."
    )
    batch_max: int = Field(
        default=500,
        ge=1,
        description="Most Kafka records consumed in one batch (a frame counts as one).",
    )
    idle_after_s: float = Field(
        default=2.0,
        gt=0,
        description="Seconds without a message after which a consumer rests: it stops "
        "fetching until its doorbell rings or SW_IDLE_POLL_S passes.",
    )
    idle_poll_s: float | None = Field(
        default=None,
        gt=0,
        description="While resting, how often a consumer looks at the broker anyway "
        "(default 5 with doorbells, 0.25 without).",
    )
    topic_generation_s: float = Field(
        default=0.0,
        ge=0,
        description="Rotate topics in generations of this many seconds, deleting each once "
        "every system group has read it (services/common/generations.py): how the embedded "
        "broker, which keeps everything in memory, stays bounded. `singlewindow up` sets 120 "
        "with the embedded broker; 0 (off) leaves real brokers to their own retention.",
    )
    status_groups: str = Field(
        default="",
        description="Comma-separated consumer groups outside the system that read "
        "sw.declarations.status: with generations on, a status generation is deleted only "
        "once each of them has committed past its end (docs/kafka-clients.md).",
    )
    doorbell_dir: Path | None = Field(
        default=None,
        description="Folder of the local doorbells (Unix sockets) by which a publisher wakes "
        "the resting consumers of its topics on the same machine; `singlewindow up` sets it. "
        "Unset: no doorbells.",
    )
    counter_block: int = Field(
        default=100,
        ge=1,
        le=1_000_000,
        description="Serial numbers a replica claims at a time (customs' 9-digit sequences); "
        "the unused rest is given back on a clean stop, lost after a crash.",
    )
    gateway_roles: str = Field(
        default="api,saga,webhooks,dashboard",
        pattern=r"^(api|saga|webhooks|dashboard)(,(api|saga|webhooks|dashboard))*$",
        description="What a gateway process runs: `api` (the REST API), `saga` (consumes "
        "agency events, the deadline watcher, CEB receipts), `webhooks` (delivers them), `dashboard` "
        "(the trainer page and its stream); any comma-separated subset.",
    )
    retention_days: float = Field(
        default=7.0,
        gt=0,
        description="Days a declaration that has ended is kept after its last change (its "
        "record, timeline, webhook deliveries, and the agencies' records of it); then it is "
        "purged and the API answers 410 Gone. Fractions are allowed (0.5 is 12 hours).",
    )
    inbox_window_days: float = Field(
        default=7.0,
        gt=0,
        description="Days a handled message's id is kept to recognise a redelivery of it. "
        "Keep it longer than any redelivery can come: the saga's re-sends, consumers "
        "restarting, and the topics' retention on a real Kafka (7 days by default).",
    )
    retention_every_s: float = Field(
        default=60.0,
        gt=0,
        description="Seconds between two purge rounds of a service (one replica does each).",
    )
    log_level: str = Field(default="INFO", description="Logging level.")
    log_format: Literal["text", "json"] = Field(default="text", description="Log line format.")
    otel_endpoint: str | None = Field(
        default=None,
        description="OTLP/HTTP endpoint, e.g. http://otel-collector:4318; when set, spans of "
        "HTTP requests and of every message handled are exported (needs the `otel` extra).",
    )

    @model_validator(mode="after")
    def _no_placeholder_secrets_outside_sandbox(self) -> Settings:
        if not self.sandbox:
            for name in ("demo_api_key", "admin_token"):
                if getattr(self, name) in PLACEHOLDER_SECRETS:
                    raise ValueError(
                        f"SW_{name.upper()} must be set to a real secret when SW_SANDBOX=false"
                    )
        return self

    @model_validator(mode="after")
    def _sasl_needs_credentials(self) -> Settings:
        if self.kafka_security_protocol.startswith("SASL") and not (
            self.kafka_sasl_username and self.kafka_sasl_password
        ):
            raise ValueError(
                f"SW_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs "
                "SW_KAFKA_SASL_USERNAME and SW_KAFKA_SASL_PASSWORD"
            )
        return self

    @property
    def idle_poll_seconds(self) -> float:
        """SW_IDLE_POLL_S, or its default: long where doorbells wake consumers, short where not."""
        if self.idle_poll_s is not None:
            return self.idle_poll_s
        return 5.0 if self.doorbell_dir else 0.25

    def generations(self) -> Generations:
        """How topics rotate (period 0: they do not)."""
        return Generations(self.topic_generation_s)

    def roles(self) -> frozenset[str]:
        """The gateway roles this process runs."""
        return frozenset(self.gateway_roles.split(","))

    def group_of(self, service: str) -> str:
        """The consumer group of a service's replicas."""
        return f"{self.kafka_group_prefix}{service}"

    def port_of(self, service: str) -> int:
        """The HTTP port of a service."""
        return self.port_base + SERVICES.index(service)

    def url_of(self, service: str) -> str:
        """The base URL of a service."""
        return f"http://{self.host}:{self.port_of(service)}"

    def database_url_of(self, service: str) -> str:
        """The database URL of a service: its own SQLite file unless a template is set."""
        if self.database_url:
            return self.database_url.format(service=service)
        return f"sqlite+aiosqlite:///{(self.data_dir / f'{service}.db').resolve()}"
