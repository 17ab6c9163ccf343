"""The web chat adapter on its own: tokens, identity signatures, parsing, rendering."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from itsdangerous import URLSafeTimedSerializer

from channels import web
from conversation.types import Button, Channel, Identity, LinkButton, Reply, TurnResult

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LANGUAGES = frozenset({"en", "hi"})


def test_token_round_trip_keeps_session_locale_and_identity() -> None:
    signer = web.TokenSigner("s3cret")
    session = web.WebSession("abc", "hi", Identity(email="asha@example.com"))
    assert signer.verify(signer.issue(session)) == session
    assert session.conversation == "web:abc"


@pytest.mark.parametrize(
    "token",
    ["", "garbage", "a.b.c"],
)
def test_garbage_tokens_are_refused(token: str) -> None:
    with pytest.raises(web.InvalidToken):
        web.TokenSigner("s3cret").verify(token)


def test_a_token_from_another_secret_is_refused() -> None:
    token = web.TokenSigner("other-deployment").issue(web.WebSession("abc"))
    with pytest.raises(web.InvalidToken, match="not valid"):
        web.TokenSigner("s3cret").verify(token)


def test_a_token_with_an_edited_claim_is_refused() -> None:
    token = web.TokenSigner("s3cret").issue(web.WebSession("abc"))
    payload, rest = token.split(".", 1)
    forged = URLSafeTimedSerializer("x").serializer.dumps({"s": "someone-else"})
    with pytest.raises(web.InvalidToken):
        web.TokenSigner("s3cret").verify(forged + "." + rest)
    assert payload  # the original still verifies
    assert web.TokenSigner("s3cret").verify(token).session_id == "abc"


def test_an_expired_token_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    signer = web.TokenSigner("s3cret", max_age=timedelta(days=30))
    token = signer.issue(web.WebSession("abc"))
    later = time.time() + timedelta(days=31).total_seconds()
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(web.InvalidToken, match="expired"):
        signer.verify(token)


@pytest.mark.parametrize("header", [None, "", "Basic abc", "Bearer ", "Token abc"])
def test_bearer_header_is_required(header: str | None) -> None:
    with pytest.raises(web.InvalidToken):
        web.bearer_token(header)


def test_bearer_header_gives_the_token() -> None:
    assert web.bearer_token("Bearer abc.def") == "abc.def"
    assert web.bearer_token("bearer   abc.def ") == "abc.def"


def _session_body(**customer: str) -> bytes:
    return json.dumps({"locale": "en", "customer": customer}).encode()


def test_a_signed_customer_gets_a_verified_session() -> None:
    signature = web.sign_customer("asha@example.com", "shop-secret")
    session = web.new_session(
        _session_body(email="asha@example.com", signature=signature),
        languages=LANGUAGES,
        identity_secret="shop-secret",
    )
    assert session.identity == Identity(email="asha@example.com")
    assert session.locale == "en"


@pytest.mark.parametrize(
    ("customer", "secret"),
    [
        ({"email": "asha@example.com", "signature": "00" * 32}, "shop-secret"),
        ({"id": "C-1", "signature": web.sign_customer("C-2", "shop-secret")}, "shop-secret"),
        ({"id": "C-1", "signature": web.sign_customer("C-1", "wrong-secret")}, "shop-secret"),
        ({"id": "C-1", "signature": web.sign_customer("C-1", "shop-secret")}, None),
    ],
)
def test_a_forged_or_unverifiable_customer_gets_an_anonymous_session(
    customer: dict[str, str], secret: str | None
) -> None:
    session = web.new_session(
        _session_body(**customer), languages=LANGUAGES, identity_secret=secret
    )
    assert session.identity is None


def test_sessions_get_fresh_ids_and_an_empty_body_is_fine() -> None:
    first = web.new_session(b"", languages=LANGUAGES, identity_secret=None)
    second = web.new_session(b"{}", languages=LANGUAGES, identity_secret=None)
    assert first.session_id != second.session_id
    assert first.locale is None


@pytest.mark.parametrize(
    ("raw", "expected"), [("hi-IN", "hi"), ("EN_gb", "en"), ("fr-FR", None), (None, None)]
)
def test_locale_maps_to_a_catalogue_language(raw: str | None, expected: str | None) -> None:
    assert web.parse_locale(raw, LANGUAGES) == expected


def test_a_malformed_locale_is_refused() -> None:
    with pytest.raises(web.InvalidMessage, match="locale"):
        web.parse_locale("<script>", LANGUAGES)


def _parse(body: object) -> object:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return web.parse(web.WebSession("abc", "hi", Identity(phone="+919800000001")), raw, NOW)


@pytest.mark.parametrize(
    "text", ["", "   ", "hello", "मेरा ऑर्डर कहाँ है?", "📦🚚❓", "订单 #1001", "مرحبا", "x" * 1000]
)
def test_any_text_becomes_an_inbound(text: str) -> None:
    inbound = _parse({"message_id": "m-1", "text": text})
    assert inbound == web.Inbound(
        channel=Channel.WEB,
        conversation="web:abc",
        message_id="m-1",
        text=text,
        identity=Identity(phone="+919800000001"),
        locale="hi",
        received_at=NOW,
    )


def test_a_tapped_button_becomes_a_payload() -> None:
    inbound = _parse({"message_id": "m_2", "payload": "menu:track"})
    assert (inbound.payload, inbound.text) == ("menu:track", "")


@pytest.mark.parametrize(
    "body",
    [
        {"message_id": "m-1"},
        {"message_id": "m-1", "text": "a", "payload": "b"},
        {"message_id": "m-1", "text": "x" * 1001},
        {"message_id": "m-1", "payload": "p" * 201},
        {"message_id": "m-1", "payload": ""},
        {"message_id": "has space", "text": "a"},
        {"message_id": "", "text": "a"},
        {"message_id": "m" * 65, "text": "a"},
        {"text": "a"},
        {"message_id": 5, "text": "a"},
        {"message_id": "m-1", "text": 5},
        {"message_id": "m-1", "text": "a", "extra": 1},
        ["message_id", "text"],
        "just a string",
    ],
)
def test_bodies_that_do_not_fit_are_refused_with_reasons(body: object) -> None:
    with pytest.raises(web.InvalidMessage) as caught:
        _parse(body)
    assert str(caught.value)
    assert caught.value.details


@pytest.mark.parametrize("raw", [b"", b"{", b"not json", b"\xff\xfe{", b'{"text": "a",}'])
def test_malformed_json_is_its_own_error(raw: bytes) -> None:
    with pytest.raises(web.MalformedBody):
        _parse(raw)


def test_naming_another_conversation_is_refused() -> None:
    with pytest.raises(web.InvalidToken, match="another conversation"):
        _parse({"message_id": "m-1", "text": "hi", "conversation": "web:someone-else"})
    assert _parse({"message_id": "m-1", "text": "hi", "conversation": "web:abc"}).text == "hi"


def test_render_gives_text_buttons_and_links() -> None:
    result = TurnResult(
        replies=(
            Reply(
                "snapshot",
                "Shipped <b>today</b>",
                (Button("Menu", "menu"),),
                (LinkButton("Track", "https://track.example/1"),),
            ),
            Reply("bye", "Bye"),
        ),
        duplicate=True,
    )
    assert web.render(result) == {
        "replies": [
            {
                "key": "snapshot",
                "text": "Shipped <b>today</b>",
                "buttons": [{"label": "Menu", "payload": "menu"}],
                "links": [{"label": "Track", "url": "https://track.example/1"}],
            },
            {"key": "bye", "text": "Bye", "buttons": [], "links": []},
        ],
        "duplicate": True,
    }
