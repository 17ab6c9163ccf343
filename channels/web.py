"""The web chat adapter: signed session tokens in, `Inbound` out, `TurnResult` to JSON.

A web chat session is a random id in a token signed with the web chat secret
(itsdangerous, timestamped, valid for `TOKEN_MAX_AGE`). The shop's page may vouch
for who the visitor is by passing a customer id, email or phone with its hex
HMAC-SHA256 made with the identity secret; only then does the token carry an
`Identity`. A bad signature quietly gives an anonymous session, so a prober learns
nothing.

Errors (the route maps them to HTTP answers):
    WebChatError
      ├── InvalidToken     missing, forged, expired, or another conversation's token
      ├── MalformedBody    not JSON (or nested too deeply, or not valid Unicode text)
      └── InvalidMessage   JSON that does not fit the request's model
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, TypeVar

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictStr,
    ValidationError,
    model_validator,
)

from channels import json_body
from conversation.types import Channel, Identity, Inbound, TurnResult

MAX_TEXT_CHARS = 1000
MAX_PAYLOAD_CHARS = 200
MAX_MESSAGE_ID_CHARS = 64
MAX_UPLOAD_ID_CHARS = 64
MAX_BODY_BYTES = 16 * 1024
MAX_SIGNATURE_CHARS = 128
MAX_CUSTOMER_CHARS = 254  # the longest email address
TOKEN_MAX_AGE = timedelta(days=30)
TOKEN_SALT = "ohb.web-chat.session"  # noqa: S105 - a namespace for signatures, not a secret
CONVERSATION_PREFIX = "web:"
LOCALE_TAG = re.compile(r"[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8}){0,3}")

_M = TypeVar("_M", bound=BaseModel)


class WebChatError(Exception):
    """Base of the adapter's errors; `str(error)` is safe to show the client."""


class InvalidToken(WebChatError):
    pass


class MalformedBody(WebChatError):
    pass


class InvalidMessage(WebChatError):
    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.details = details or []


@dataclass(frozen=True, slots=True)
class WebSession:
    """What a token proves: which conversation, in which language, and (only when
    the shop signed it) who the visitor is."""

    session_id: str
    locale: str | None = None
    identity: Identity | None = None

    @property
    def conversation(self) -> str:
        return CONVERSATION_PREFIX + self.session_id


# --- request bodies ---------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CustomerClaim(_Body):
    """The shop's word on who the visitor is: exactly one of id, email, phone,
    with `signature` = hex HMAC-SHA256(WEB_IDENTITY_SECRET, that value)."""

    id: StrictStr | None = Field(None, min_length=1, max_length=MAX_CUSTOMER_CHARS)
    email: StrictStr | None = Field(None, min_length=3, max_length=MAX_CUSTOMER_CHARS)
    phone: StrictStr | None = Field(None, min_length=3, max_length=32)
    signature: StrictStr = Field(max_length=MAX_SIGNATURE_CHARS)

    @model_validator(mode="after")
    def _exactly_one(self) -> CustomerClaim:
        given = [v for v in (self.id, self.email, self.phone) if v is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of customer.id, customer.email, customer.phone")
        return self

    @property
    def value(self) -> str:
        return next(v for v in (self.id, self.email, self.phone) if v is not None)

    def identity(self) -> Identity:
        return Identity(customer_id=self.id, email=self.email, phone=self.phone)


class SessionRequest(_Body):
    locale: StrictStr | None = Field(None, max_length=16)
    customer: CustomerClaim | None = None


class MessageRequest(_Body):
    """One shopper message: typed `text` (may be empty) or a tapped button's
    `payload`; or a file uploaded before (`upload`, its id), with `text` as caption."""

    message_id: StrictStr = Field(
        min_length=1, max_length=MAX_MESSAGE_ID_CHARS, pattern=r"^[A-Za-z0-9_-]+$"
    )
    text: StrictStr | None = Field(None, max_length=MAX_TEXT_CHARS)
    payload: StrictStr | None = Field(None, min_length=1, max_length=MAX_PAYLOAD_CHARS)
    conversation: StrictStr | None = Field(
        None, max_length=128, description="optional; when given it must be the token's"
    )
    upload: StrictStr | None = Field(
        None, min_length=8, max_length=MAX_UPLOAD_ID_CHARS, pattern=r"^[A-Za-z0-9_-]+$",
        description="the id `POST /api/chat/uploads` answered",
    )

    @model_validator(mode="after")
    def _text_or_payload(self) -> MessageRequest:
        if self.upload is not None:
            if self.payload is not None:
                raise ValueError("an upload goes with an optional text, not a payload")
            return self
        if (self.text is None) == (self.payload is None):
            raise ValueError("give either text or payload (exactly one)")
        return self


# --- tokens and signatures --------------------------------------------------------


def _text(value: str) -> str:
    if not json_body.well_formed(value):
        raise ValueError("not valid Unicode text")
    return value


_Text = Annotated[StrictStr, AfterValidator(_text)]


class _IdentityClaims(BaseModel):
    """`i` in a token: what the shop vouched for (see `CustomerClaim`)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    c: _Text | None = Field(None, min_length=1, max_length=MAX_CUSTOMER_CHARS)
    e: _Text | None = Field(None, min_length=3, max_length=MAX_CUSTOMER_CHARS)
    p: _Text | None = Field(None, min_length=3, max_length=32)


class _Claims(BaseModel):
    """A token's claims, as `TokenSigner.issue` writes them. Claims a later version
    may add are ignored; a known one of the wrong type makes the token invalid."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    s: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$", strict=True)
    l: _Text | None = Field(None, max_length=16, pattern=f"^(?:{LOCALE_TAG.pattern})$")  # noqa: E741
    i: _IdentityClaims | None = None


class TokenSigner:
    """Issues and checks session tokens with one secret."""

    def __init__(self, secret: str, max_age: timedelta = TOKEN_MAX_AGE) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt=TOKEN_SALT)
        self._max_age = int(max_age.total_seconds())

    def issue(self, session: WebSession) -> str:
        claims: dict[str, Any] = {"s": session.session_id}
        if session.locale:
            claims["l"] = session.locale
        if session.identity:
            ident = {
                key: value
                for key, value in (
                    ("c", session.identity.customer_id),
                    ("e", session.identity.email),
                    ("p", session.identity.phone),
                )
                if value
            }
            claims["i"] = ident
        return self._serializer.dumps(claims)

    def verify(self, token: str) -> WebSession:
        try:
            claims = self._serializer.loads(token, max_age=self._max_age)
        except SignatureExpired as exc:
            raise InvalidToken("the chat session has expired; start a new one") from exc
        except BadSignature as exc:
            raise InvalidToken("the chat token is not valid") from exc
        try:  # signed by us, so only a leaked secret or a bug makes them odd: still 401
            checked = _Claims.model_validate(claims)
        except ValidationError as exc:
            raise InvalidToken("the chat token is not valid") from exc
        ident = checked.i
        identity = Identity(customer_id=ident.c, email=ident.e, phone=ident.p) if ident else None
        return WebSession(session_id=checked.s, locale=checked.l, identity=identity)


def sign_customer(value: str, secret: str) -> str:
    """The recipe the shop's server follows: hex HMAC-SHA256 of the UTF-8 value."""
    return hmac.new(secret.encode(), value.encode(), hashlib.sha256).hexdigest()


def customer_verified(claim: CustomerClaim, secret: str | None) -> bool:
    if not secret:
        return False
    expected = sign_customer(claim.value, secret)
    given = claim.signature.strip().lower().encode()  # bytes: str must be ASCII there
    return hmac.compare_digest(expected.encode(), given)


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise InvalidToken("send the chat token as 'Authorization: Bearer <token>'")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("send the chat token as 'Authorization: Bearer <token>'")
    return token.strip()


# --- parse and render -------------------------------------------------------------


def _load_json(body: bytes, *, allow_empty: bool) -> Any:
    if allow_empty and not body.strip():
        return {}
    try:
        return json_body.loads(body)
    except json_body.NotJson as exc:  # not JSON, too deep, or a lone surrogate
        raise MalformedBody(str(exc)) from exc


def _validate(model: type[_M], data: Any) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = [
            {"field": ".".join(str(p) for p in err["loc"]) or "(body)", "problem": err["msg"]}
            for err in exc.errors(include_url=False, include_input=False)
        ]
        raise InvalidMessage("the request does not fit the expected fields", details) from exc


def parse_locale(raw: str | None, languages: frozenset[str]) -> str | None:
    """`hi-IN` -> `hi`. A well-formed tag the catalogue lacks (a browser's `fr-FR`)
    gives None, the engine's default language; a malformed one is refused."""
    if raw is None:
        return None
    if not LOCALE_TAG.fullmatch(raw):
        raise InvalidMessage("locale must be a language tag such as en or hi-IN")
    primary = raw.replace("_", "-").split("-", 1)[0].lower()
    return primary if primary in languages else None


def new_session(
    body: bytes, *, languages: frozenset[str], identity_secret: str | None
) -> WebSession:
    """A fresh session from `POST /api/chat/sessions`'s optional body."""
    request = _validate(SessionRequest, _load_json(body, allow_empty=True))
    identity = None
    if request.customer is not None and customer_verified(request.customer, identity_secret):
        identity = request.customer.identity()
    return WebSession(
        session_id=secrets.token_urlsafe(18),
        locale=parse_locale(request.locale, languages),
        identity=identity,
    )


def parse(session: WebSession, body: bytes, now: datetime) -> Inbound:
    """A verified session plus `POST /api/chat/messages`'s body -> the engine's input."""
    request = _validate(MessageRequest, _load_json(body, allow_empty=False))
    if request.conversation is not None and request.conversation != session.conversation:
        raise InvalidToken("the chat token belongs to another conversation")
    return Inbound(
        channel=Channel.WEB,
        conversation=session.conversation,
        message_id=request.message_id,
        text=request.text or "",
        payload=request.payload,
        identity=session.identity,
        locale=session.locale,
        received_at=now,
        has_media=request.upload is not None,
        attachments=(request.upload,) if request.upload else (),
    )


def render(result: TurnResult) -> dict[str, Any]:
    return {
        "replies": [
            {
                "key": reply.key,
                "text": reply.text,
                "buttons": [{"label": b.label, "payload": b.payload} for b in reply.buttons],
                "links": [{"label": link.label, "url": link.url} for link in reply.links],
            }
            for reply in result.replies
        ],
        "duplicate": result.duplicate,
    }
