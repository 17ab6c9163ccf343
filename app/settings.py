"""Every setting of a deployment, read from the environment or a `.env` file.

The names are the public contract in DESIGN.md (the README lists each with its
default). Secrets are `SecretStr`, so printing or logging a `Settings` shows
`'**********'` instead of the value; `REDIS_URL` counts as a secret because hosted
Redis URLs carry a password.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

import orders
from channels.whatsapp_content import ContentTemplates
from conversation.desk import DeskPolicy, PriorityRules, SlaTargets
from conversation.hours import BusinessHours
from conversation.quiet_hours import QuietHours
from orders.policy import Action, Policy
from orders.refund_timing import parse_refund_timing

ORIGIN = re.compile(r"https?://[a-z0-9.-]+(:\d{1,5})?|https?://\[[0-9a-f:.]+\](:\d{1,5})?")
CLUSTER_OUTBOX_PARTITIONS = 8
"""The outbox's streams on Redis Cluster when `OUTBOX_PARTITIONS` is unset."""
SAMPLE_ORDERS_FILE = Path(orders.__file__).resolve().parent / "data" / "demo_orders.json"


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _split(value: object) -> object:
    """Comma-separated lists in the environment: `a, b` -> ["a", "b"]."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    # Where the web process listens and how providers reach it.
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    web_concurrency: int = Field(
        default=1, ge=1, le=64,
        description="web processes `serve` starts (uvicorn's workers); `--workers` overrides",
    )
    public_url: str = Field(
        default="http://localhost:8000", description="the public base URL providers call"
    )

    # State.
    redis_url: SecretStr | None = Field(
        default=None, description="without it, an embedded Valkey keeps its data in DATA_DIR"
    )
    redis_cluster: bool = Field(
        default=False,
        description="REDIS_URL is a node of a Redis Cluster: use the cluster client",
    )
    redis_prefix: str = "ohb:"
    outbox_partitions: int | None = Field(
        default=None, ge=1, le=256,
        description="streams the outbox is split into (by conversation); "
        "unset: 1, or 8 with REDIS_CLUSTER (so delivery spreads over the masters)",
    )
    worker_concurrency: int = Field(
        # as many as the Telegram transport's connection pool (16), so a wave of
        # deliveries fills it: 8 drained a backlog half as fast (benchmarks.outbox_drain)
        default=16, ge=1, le=1024,
        description="conversations one worker process delivers to at once",
    )
    data_dir: Path = Path("data")
    database_url: SecretStr | None = Field(
        default=None,
        description="the records' database: unset = SQLite under DATA_DIR, or postgresql://...",
    )
    session_idle_minutes: int = Field(default=30, ge=1)
    worker_in_process: bool | None = Field(
        default=None,
        description="run the outbox sender inside the web process; "
        "unset: yes with the embedded Valkey, no with REDIS_URL (run `worker:` instead)",
    )

    # The shop.
    order_backend: Literal["demo", "http", "shopify", "woocommerce"] = "demo"
    orders_file: Path = SAMPLE_ORDERS_FILE
    order_api_url: str | None = Field(
        default=None, description="ORDER_BACKEND=http: base URL of the shop's order API"
    )
    order_api_token: SecretStr | None = Field(
        default=None, description="ORDER_BACKEND=http: sent as `Authorization: Bearer ...`"
    )
    order_api_timeout: float = Field(
        default=4.0, gt=0, le=10,
        description="seconds per call to the shop's API, well inside the channels' webhook budgets",
    )
    shopify_store_url: str | None = Field(
        default=None, description="ORDER_BACKEND=shopify: https://<shop>.myshopify.com"
    )
    shopify_access_token: SecretStr | None = Field(
        default=None, description="ORDER_BACKEND=shopify: an Admin API access token (shpat_...)"
    )
    shopify_api_version: str = "2025-10"
    woocommerce_url: str | None = Field(
        default=None, description="ORDER_BACKEND=woocommerce: the shop's base URL"
    )
    woocommerce_consumer_key: SecretStr | None = None
    woocommerce_consumer_secret: SecretStr | None = None

    # Carrier updates and shipping notifications.
    shiprocket_webhook_token: SecretStr | None = Field(
        default=None, description="the token Shiprocket sends in its `x-api-key` header"
    )
    aftership_webhook_secret: SecretStr | None = Field(
        default=None, description="AfterShip's webhook secret; signs `aftership-hmac-sha256`"
    )
    carrier_webhook_secret: SecretStr | None = Field(
        default=None, description="signs the generic carrier update format (HMAC-SHA256)"
    )
    quiet_hours: str = Field(
        default="21:00-09:00",
        description="local times (TIMEZONE) when shipping notifications wait; empty: none",
    )

    # Telegram.
    telegram_bot_token: SecretStr | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org"
    telegram_bot_rate: float = Field(
        default=30.0, gt=0,
        description="messages a second the whole bot may send (Telegram's own limit is "
        "about 30; raise it only with paid broadcasts or against a local fake)",
    )

    # WhatsApp through Twilio.
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_whatsapp_from: str | None = None
    twilio_api_url: str = "https://api.twilio.com"
    twilio_content_templates: ContentTemplates = Field(
        default_factory=ContentTemplates,
        description="JSON: the merchant's Content template SIDs (see channels/whatsapp_content.py)",
    )

    # Web chat.
    web_chat_secret: SecretStr | None = Field(
        default=None,
        description="signs web chat tokens; generated once and kept in Redis when unset",
    )
    web_identity_secret: SecretStr | None = Field(
        default=None, description="shared with the shop, which signs customer ids with it"
    )
    web_allowed_origins: Annotated[list[str], NoDecode] = []

    # The support inbox.
    inbox_admin_email: str | None = None
    inbox_admin_password: SecretStr | None = None
    inbox_cookie_secret: SecretStr | None = Field(
        default=None,
        description="signs staff session cookies; generated once and kept in Redis when unset",
    )
    inbox_notify_url: SecretStr | None = Field(
        default=None, description="a Slack-compatible incoming webhook told of each new ticket"
    )

    # Shoppers' photos and files (media/).
    media_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024,
                                 description="the largest file a shopper may send")
    media_store_url: str | None = Field(
        default=None, pattern=r"^s3://[^/]+(/.*)?$",
        description="s3://bucket/prefix for S3-compatible storage; unset: DATA_DIR/media")
    media_s3_endpoint: str | None = Field(
        default=None, description="the S3 API's URL (MinIO, R2...); unset: AWS for the region")
    media_s3_region: str | None = None
    media_s3_access_key_id: str | None = None
    media_s3_secret_access_key: SecretStr | None = None
    media_retention_days: int = Field(default=180, ge=1)

    # The merchant's policy and links.
    return_window_days: int = Field(default=30, ge=0)
    return_window_starts: Literal["delivery", "order"] = "delivery"
    allowed_actions: Annotated[frozenset[Action], NoDecode] = frozenset(Action)
    manual_actions: Annotated[frozenset[Action], NoDecode] = frozenset({Action.REPLACE})
    support_url: str | None = None
    return_policy_url: str | None = None
    business_hours: str = "Mon-Sat 09:00-18:00"
    timezone: str = "Asia/Kolkata"
    late_apology: str = ""
    late_compensation: str = ""
    refund_timing: str = ""
    failed_payment_refund_days: int = Field(default=5, ge=0)
    nlu_url: str | None = None
    nlu_model: str = "local"
    nlu_api_key: SecretStr | None = None
    nlu_timeout_s: float = Field(default=3.0, gt=0, le=30)
    replacement_limit: Literal["item", "order", "none"] = "item"
    store_credit_refunds: bool = False
    cancel_reasons: Annotated[tuple[str, ...], NoDecode] = ()

    # The support desk (conversation/desk.py).
    priority_rules: str = Field(
        default="package:lost=high, refusal:window_closed=high, action:refund=high",
        description="tag=priority pairs: the highest whose tag a new ticket has is its priority")
    sla_targets: str = Field(
        default="urgent=1h/4h, high=4h/1d, normal=8h/3d, low=1d/5d",
        description="per priority: business time to the first reply / to resolution")
    desk_auto_assign: bool = Field(
        default=False, description="give each new ticket to an available agent, round robin")

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("cancel_reasons", mode="before")
    @classmethod
    def _reason_codes(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        codes = tuple(code.strip().lower() for code in value.split(",") if code.strip())
        for code in codes:
            if not re.fullmatch(r"[a-z0-9_]{1,40}", code):
                raise ValueError(f"{code!r}: a reason code is letters, digits and _ (at most 40)")
        return codes

    # Operating it: logs, metrics, proxies, traces (app/observe.py, app/metrics.py).
    log_format: Literal["text", "json"] = "text"
    metrics_token: SecretStr | None = Field(
        default=None, description="GET /metrics wants `Authorization: Bearer <token>`")
    metrics_allow: Annotated[list[IPNetwork], NoDecode] = Field(
        default=[], description="addresses or networks that may read /metrics without the "
        "token; with neither set, only this machine (loopback, not through a proxy)")
    trusted_proxies: Annotated[list[IPNetwork], NoDecode] = Field(
        default=[ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("::1/128")],
        description="proxies whose X-Forwarded-For / X-Forwarded-Proto are believed")
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None, description="traces go to this OTLP endpoint (needs the `otel` extra)")

    @field_validator("web_allowed_origins", "allowed_actions", "manual_actions", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return _split(value)

    @field_validator("metrics_allow", "trusted_proxies", mode="before")
    @classmethod
    def _networks(cls, value: object) -> object:
        """`10.0.0.0/8, 192.0.2.7, fd00::/8`: addresses and networks, comma-separated."""
        entries = _split(value)
        if not isinstance(entries, list):
            return entries
        networks = []
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise ValueError(
                    f"{entry!r} is not an address or network such as 10.0.0.0/8") from None
        return networks

    @field_validator("metrics_token", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """`METRICS_TOKEN=` in a .env file means no token, never the empty one."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("web_allowed_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        """A browser's `Origin` is `scheme://host[:port]`, lower case, no slash: an
        entry written as `https://Shop.example.com/` would otherwise never match."""
        origins = []
        for entry in value:
            origin = entry.rstrip("/").lower()
            if not ORIGIN.fullmatch(origin):
                raise ValueError(f"{entry!r} is not an origin such as https://shop.example.com")
            origins.append(origin)
        return origins

    @field_validator(
        "public_url", "telegram_api_url", "twilio_api_url", "order_api_url", "shopify_store_url",
        "woocommerce_url",
    )
    @classmethod
    def _no_trailing_slash(cls, value: str | None) -> str | None:
        """So `f"{public_url}/webhooks/..."` never has a double slash (Twilio signs it)."""
        return value.rstrip("/") if value is not None else None

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("business_hours")
    @classmethod
    def _readable_hours(cls, value: str) -> str:
        BusinessHours.parse(value)  # raises a ValueError that names the bad part
        return value

    @field_validator("refund_timing")
    @classmethod
    def _readable_refund_timing(cls, value: str) -> str:
        parse_refund_timing(value)  # raises a ValueError that says how to write it
        return value

    @field_validator("priority_rules")
    @classmethod
    def _readable_rules(cls, value: str) -> str:
        PriorityRules.parse(value)
        return value

    @field_validator("sla_targets")
    @classmethod
    def _readable_targets(cls, value: str) -> str:
        SlaTargets.parse(value)
        return value

    def desk(self) -> DeskPolicy:
        return DeskPolicy(PriorityRules.parse(self.priority_rules),
                          SlaTargets.parse(self.sla_targets),
                          BusinessHours.parse(self.business_hours, self.timezone),
                          auto_assign=self.desk_auto_assign)

    @field_validator("quiet_hours")
    @classmethod
    def _readable_quiet_hours(cls, value: str) -> str:
        QuietHours.parse(value)  # raises a ValueError that says how to write it
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _backend_configured(self) -> Settings:
        """A back-end other than the demo needs its address and credentials; say which
        are missing at start-up instead of failing on the first shopper's message."""
        needs: dict[str, dict[str, object]] = {
            "http": {"ORDER_API_URL": self.order_api_url, "ORDER_API_TOKEN": self.order_api_token},
            "shopify": {
                "SHOPIFY_STORE_URL": self.shopify_store_url,
                "SHOPIFY_ACCESS_TOKEN": self.shopify_access_token,
            },
            "woocommerce": {
                "WOOCOMMERCE_URL": self.woocommerce_url,
                "WOOCOMMERCE_CONSUMER_KEY": self.woocommerce_consumer_key,
                "WOOCOMMERCE_CONSUMER_SECRET": self.woocommerce_consumer_secret,
            },
        }
        missing = [name for name, value in needs.get(self.order_backend, {}).items() if not value]
        if missing:
            raise ValueError(
                f"ORDER_BACKEND={self.order_backend} needs {', '.join(missing)}"
            )
        return self

    def policy(self) -> Policy:
        return Policy(
            return_window_days=self.return_window_days,
            window_starts=self.return_window_starts,
            allowed=self.allowed_actions,
            manual=self.manual_actions,
            timezone=self.timezone,
            refund_timing=parse_refund_timing(self.refund_timing),
            replacement_limit=self.replacement_limit,
            store_credit_refunds=self.store_credit_refunds,
            failed_payment_refund_days=self.failed_payment_refund_days,
            cancel_reasons=self.cancel_reasons,
            late_apology=self.late_apology,
            late_compensation=self.late_compensation,
        )

    @property
    def outbox_partition_count(self) -> int:
        if self.outbox_partitions is not None:
            return self.outbox_partitions
        return CLUSTER_OUTBOX_PARTITIONS if self.redis_cluster else 1

    @property
    def runs_worker_in_process(self) -> bool:
        if self.worker_in_process is None:
            return self.redis_url is None
        return self.worker_in_process

    def missing_for_channels(self) -> dict[str, list[str]]:
        """For each optional feature, the settings it still needs (empty = on)."""
        needs: dict[str, dict[str, object]] = {
            "telegram": {
                "TELEGRAM_BOT_TOKEN": self.telegram_bot_token,
                "TELEGRAM_WEBHOOK_SECRET": self.telegram_webhook_secret,
            },
            "whatsapp": {
                "TWILIO_ACCOUNT_SID": self.twilio_account_sid,
                "TWILIO_AUTH_TOKEN": self.twilio_auth_token,
                "TWILIO_WHATSAPP_FROM": self.twilio_whatsapp_from,
            },
            "web chat identity": {"WEB_IDENTITY_SECRET": self.web_identity_secret},
            "Shiprocket updates": {"SHIPROCKET_WEBHOOK_TOKEN": self.shiprocket_webhook_token},
            "AfterShip updates": {"AFTERSHIP_WEBHOOK_SECRET": self.aftership_webhook_secret},
            "generic carrier updates": {"CARRIER_WEBHOOK_SECRET": self.carrier_webhook_secret},
        }
        return {
            feature: [name for name, value in values.items() if not value]
            for feature, values in needs.items()
        }
