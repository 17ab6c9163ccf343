"""Settings: the documented defaults, comma lists from the environment, no secret in reprs."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from app.settings import SAMPLE_ORDERS_FILE, Settings
from orders.policy import Action


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No `.env` and no deployment variables leak into these tests."""
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


def test_defaults_need_no_configuration(clean_env: pytest.MonkeyPatch) -> None:
    settings = Settings()
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.public_url == "http://localhost:8000"
    assert settings.redis_url is None
    assert settings.data_dir == Path("data")
    assert settings.orders_file == SAMPLE_ORDERS_FILE
    assert settings.telegram_bot_token is None and settings.twilio_auth_token is None
    assert settings.web_allowed_origins == []
    assert settings.redis_prefix == "ohb:"
    assert settings.timezone == "Asia/Kolkata"
    policy = settings.policy()
    assert policy.return_window_days == 30
    assert policy.window_starts == "delivery"
    assert policy.manual == frozenset({Action.REPLACE})
    assert policy.allowed == frozenset(Action)


def test_environment_and_comma_lists(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("PORT", "5001")
    clean_env.setenv("PUBLIC_URL", "https://bot.example.com/")
    clean_env.setenv("WEB_ALLOWED_ORIGINS", "https://shop.example.com, https://m.shop.example.com")
    clean_env.setenv("MANUAL_ACTIONS", "replace,return")
    clean_env.setenv("RETURN_WINDOW_DAYS", "14")
    clean_env.setenv("RETURN_WINDOW_STARTS", "order")
    settings = Settings()
    assert settings.port == 5001
    assert settings.public_url == "https://bot.example.com"
    assert settings.web_allowed_origins == [
        "https://shop.example.com",
        "https://m.shop.example.com",
    ]
    policy = settings.policy()
    assert policy.manual == frozenset({Action.REPLACE, Action.RETURN})
    assert (policy.return_window_days, policy.window_starts) == (14, "order")


def test_dotenv_file_is_read(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("BUSINESS_HOURS=Mon-Fri 10:00-17:00\nLOG_LEVEL=debug\n")
    settings = Settings()
    assert settings.business_hours == "Mon-Fri 10:00-17:00"
    assert settings.log_level == "DEBUG"


def test_secrets_never_show_in_repr(clean_env: pytest.MonkeyPatch) -> None:
    settings = Settings(
        redis_url="redis://:hunter2pass@redis.example.com:6379",
        telegram_bot_token="123:telegram-token-value",
        twilio_auth_token="twilio-auth-value",
        web_chat_secret="web-chat-secret-value",
        web_identity_secret="identity-secret-value",
        inbox_admin_password="admin-password-value",
    )
    shown = repr(settings) + str(settings) + str(settings.model_dump())
    for secret in (
        "hunter2pass",
        "telegram-token-value",
        "twilio-auth-value",
        "web-chat-secret-value",
        "identity-secret-value",
        "admin-password-value",
    ):
        assert secret not in shown


def test_missing_channel_secrets_turn_only_that_channel_off(clean_env: pytest.MonkeyPatch) -> None:
    missing = Settings(telegram_bot_token="t", telegram_webhook_secret="s").missing_for_channels()
    assert missing["telegram"] == []
    assert missing["whatsapp"] == [
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "TWILIO_WHATSAPP_FROM",
    ]
    assert missing["web chat identity"] == ["WEB_IDENTITY_SECRET"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TIMEZONE", "Mars/Olympus"),
        ("MANUAL_ACTIONS", "teleport"),
        ("PORT", "0"),
        ("RETURN_WINDOW_STARTS", "shipping"),
    ],
)
def test_bad_values_are_refused_by_name(
    clean_env: pytest.MonkeyPatch, name: str, value: str
) -> None:
    clean_env.setenv(name, value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert name.lower() in str(caught.value)


@pytest.mark.parametrize("backend,given,missing", [
    ("http", {"ORDER_API_URL": "https://shop.example.com/api/"}, "ORDER_API_TOKEN"),
    ("shopify", {"SHOPIFY_ACCESS_TOKEN": "shpat_x"}, "SHOPIFY_STORE_URL"),
    ("woocommerce", {"WOOCOMMERCE_URL": "https://shop.example.com"},
     "WOOCOMMERCE_CONSUMER_KEY, WOOCOMMERCE_CONSUMER_SECRET"),
])
def test_a_back_end_without_its_settings_stops_the_start_naming_them(
    clean_env: pytest.MonkeyPatch, backend: str, given: dict[str, str], missing: str
) -> None:
    clean_env.setenv("ORDER_BACKEND", backend)
    for name, value in given.items():
        clean_env.setenv(name, value)
    with pytest.raises(ValidationError, match=f"ORDER_BACKEND={backend} needs {missing}"):
        Settings(_env_file=None)


def test_a_configured_http_back_end_keeps_its_url_without_the_slash(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("ORDER_BACKEND", "http")
    clean_env.setenv("ORDER_API_URL", "https://shop.example.com/api/")
    clean_env.setenv("ORDER_API_TOKEN", "t0ken")
    settings = Settings(_env_file=None)
    assert settings.order_api_url == "https://shop.example.com/api"
    assert "t0ken" not in repr(settings)


def test_policy_settings_are_read_into_the_policy(clean_env: pytest.MonkeyPatch) -> None:
    settings = Settings()
    policy = settings.policy()
    assert policy.cancel_reasons == () and policy.replacement_limit == "item"
    assert policy.refund_timing["card"].business and policy.late_apology == ""
    clean_env.setenv("CANCEL_REASONS", "Changed_my_mind, found_cheaper,too_expensive")
    clean_env.setenv("REPLACEMENT_LIMIT", "order")
    clean_env.setenv("REFUND_TIMING", "card=3-5 business")
    clean_env.setenv("LATE_COMPENSATION", "A ₹100 voucher is on its way.")
    policy = Settings().policy()
    assert policy.cancel_reasons == ("changed_my_mind", "found_cheaper", "too_expensive")
    assert policy.replacement_limit == "order"
    assert (policy.refund_timing["card"].low, policy.refund_timing["card"].high) == (3, 5)
    assert policy.late_compensation == "A ₹100 voucher is on its way."


@pytest.mark.parametrize(("name", "value"), [
    ("CANCEL_REASONS", "changed my mind"),
    ("REPLACEMENT_LIMIT", "customer"),
    ("REFUND_TIMING", "paypal=1-2"),
])
def test_bad_policy_values_are_refused_by_name(
    clean_env: pytest.MonkeyPatch, name: str, value: str
) -> None:
    clean_env.setenv(name, value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert name.lower() in str(caught.value)


def test_every_setting_is_in_the_readmes_settings_table() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    table = {line.split("|")[1].strip().strip("`") for line in readme.splitlines()
             if line.startswith("| `")}
    missing = sorted(name.upper() for name in Settings.model_fields
                     if name.upper() not in table)
    assert not missing, f"settings missing from the README's table: {missing}"


def test_redis_cluster_settings(clean_env: pytest.MonkeyPatch) -> None:
    plain = Settings(redis_url="redis://10.0.0.5:6379")
    assert (plain.redis_cluster, plain.outbox_partition_count, plain.web_concurrency,
            plain.worker_concurrency) == (False, 1, 1, 16)
    clean_env.setenv("REDIS_CLUSTER", "true")
    cluster = Settings(redis_url="redis://10.0.0.5:7000")
    assert cluster.redis_cluster and cluster.outbox_partition_count == 8
    clean_env.setenv("OUTBOX_PARTITIONS", "3")
    assert Settings().outbox_partition_count == 3
    clean_env.setenv("OUTBOX_PARTITIONS", "0")
    with pytest.raises(ValidationError):
        Settings()
