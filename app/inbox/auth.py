"""Who is asking: login sessions, CSRF tokens and login limits for the inbox.

Sessions. Logging in makes a random session id with a record in Redis (the email,
the account's epoch, a CSRF token; 12 hours), and sets the cookie `ohb_staff` to
that id signed with itsdangerous (HttpOnly, SameSite=Lax, Secure when PUBLIC_URL
is https, path `/`). A request is a staff member's only if the signature holds,
the record exists, and the account still exists with the same epoch: so logout,
a password change and a removed account each end sessions at once. The signing
secret is `INBOX_COOKIE_SECRET`, or one generated on the first start and kept in
Redis (like the web chat's).

CSRF. Every session has its own random token. Forms carry it in a hidden `csrf`
field, the JavaScript and API clients in an `X-CSRF-Token` header; any POST
without the right one is refused (403) before it is read further. The login form,
which comes before any session, uses a signed double-submit token: a short-lived
cookie and the same value in the form.

Login limits. Failed logins are counted in Redis (INCR + EXPIRE, no library
needed for two counters) per account and per client address; past the limit the
password is not even checked until the window ends (429 with Retry-After). A good
login clears the account's counter. Keys hold hashes of the email and address,
not the values themselves.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

import redis.asyncio as aioredis
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from app.inbox.accounts import StaffMember
from app.resources import Resources

SESSION_COOKIE = "ohb_staff"
LOGIN_COOKIE = "ohb_login"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf"
SESSION_TTL_S = 12 * 3600
LOGIN_TOKEN_TTL_S = 3600
FAILURE_WINDOW_S = 15 * 60
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_ADDRESS = 20


@dataclass(frozen=True, slots=True)
class Staff:
    """The staff member behind a request, with their session's CSRF token."""

    member: StaffMember
    session_id: str
    csrf: str

    @property
    def email(self) -> str:
        return self.member.email

    @property
    def is_admin(self) -> bool:
        return self.member.is_admin


class CsrfFailed(Exception):
    """A form or API call without the session's CSRF token."""


async def cookie_secret(request: Request) -> str:
    """`INBOX_COOKIE_SECRET`, or the one generated once and kept in Redis."""
    cached: str | None = getattr(request.app.state, "inbox_cookie_secret", None)
    if cached:
        return cached
    resources: Resources = request.state.resources
    configured = resources.settings.inbox_cookie_secret
    if configured is not None:
        secret = configured.get_secret_value()
    else:
        fresh = secrets.token_urlsafe(32)
        key = f"{resources.settings.redis_prefix}secret:inbox-cookie"
        older = await resources.redis.set(key, fresh, nx=True, get=True)
        if isinstance(older, bytes):
            older = older.decode()
        secret = older if isinstance(older, str) else fresh
    request.app.state.inbox_cookie_secret = secret
    return secret


def _serializer(secret: str, salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=salt)


def _session_key(resources: Resources, session_id: str) -> str:
    return f"{resources.settings.redis_prefix}staff-session:{session_id}"


def _secure(resources: Resources) -> bool:
    return resources.settings.public_url.startswith("https://")


async def current_staff(request: Request) -> Staff | None:
    """The signed-in staff member, or None (no cookie, a forged or stale one)."""
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    resources: Resources = request.state.resources
    try:
        session_id = _serializer(await cookie_secret(request), "staff-session").loads(
            raw, max_age=SESSION_TTL_S)
    except BadSignature:
        return None
    if not isinstance(session_id, str):
        return None
    record = await resources.redis.get(_session_key(resources, session_id))
    if record is None:
        return None
    data = json.loads(record)
    store = resources.staff
    member = await store.get(data["email"])
    if member is None or await store.epoch(member.email) != data["epoch"]:
        return None
    return Staff(member, session_id, data["csrf"])


async def log_in(request: Request, response: Response, member: StaffMember) -> Staff:
    resources: Resources = request.state.resources
    store = resources.staff
    session_id = secrets.token_urlsafe(24)
    csrf = secrets.token_urlsafe(24)
    record = {"email": member.email, "epoch": await store.epoch(member.email), "csrf": csrf}
    await resources.redis.set(_session_key(resources, session_id), json.dumps(record),
                              ex=SESSION_TTL_S)
    signed = _serializer(await cookie_secret(request), "staff-session").dumps(session_id)
    response.set_cookie(SESSION_COOKIE, signed, max_age=SESSION_TTL_S, path="/",
                        httponly=True, samesite="lax", secure=_secure(resources))
    response.delete_cookie(LOGIN_COOKIE, path="/inbox")
    return Staff(member, session_id, csrf)


async def log_out(request: Request, response: Response, staff: Staff) -> None:
    resources: Resources = request.state.resources
    await resources.redis.delete(_session_key(resources, staff.session_id))
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax",
                           secure=_secure(resources))


def check_csrf(staff: Staff, given: str | None) -> None:
    if not given or not hmac.compare_digest(given.encode(), staff.csrf.encode()):
        raise CsrfFailed("missing or wrong CSRF token")


# ---- the login form's token, before there is a session ------------------------------


async def login_token(request: Request, response: Response) -> str:
    """A fresh double-submit token: the cookie holds it signed, the form plainly."""
    token = secrets.token_urlsafe(24)
    resources: Resources = request.state.resources
    signed = _serializer(await cookie_secret(request), "login-csrf").dumps(token)
    response.set_cookie(LOGIN_COOKIE, signed, max_age=LOGIN_TOKEN_TTL_S, path="/inbox",
                        httponly=True, samesite="strict", secure=_secure(resources))
    return token


async def check_login_token(request: Request, given: str | None) -> None:
    raw = request.cookies.get(LOGIN_COOKIE)
    if not raw or not given:
        raise CsrfFailed("missing login token")
    try:
        token = _serializer(await cookie_secret(request), "login-csrf").loads(
            raw, max_age=LOGIN_TOKEN_TTL_S)
    except BadSignature as exc:
        raise CsrfFailed("bad login token") from exc
    if not isinstance(token, str) or not hmac.compare_digest(token.encode(), given.encode()):
        raise CsrfFailed("bad login token")


# ---- login limits -----------------------------------------------------------------


class LoginLimiter:
    def __init__(self, redis: aioredis.Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    def _keys(self, email: str, address: str) -> tuple[str, str]:
        def tag(value: str) -> str:
            return hashlib.sha256(value.encode()).hexdigest()[:20]

        # Each key is its own hash tag (a Redis Cluster slot), so each key's
        # INCR+EXPIRE is one transaction on its own (`failed`).
        base = f"{self._prefix}login-failures"
        return (f"{base}:account:{{{tag(email.strip().casefold())}}}",
                f"{base}:address:{{{tag(address)}}}")

    async def retry_after(self, email: str, address: str) -> int | None:
        """Seconds until another try is allowed, or None when it is allowed now."""
        account, addr = self._keys(email, address)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.get(account)
            pipe.ttl(account)
            pipe.get(addr)
            pipe.ttl(addr)
            a_count, a_ttl, d_count, d_ttl = await pipe.execute()
        waits = []
        if int(a_count or 0) >= MAX_FAILURES_PER_ACCOUNT:
            waits.append(max(int(a_ttl), 1))
        if int(d_count or 0) >= MAX_FAILURES_PER_ADDRESS:
            waits.append(max(int(d_ttl), 1))
        return max(waits) if waits else None

    async def failed(self, email: str, address: str) -> None:
        for key in self._keys(email, address):  # two slots: one transaction each
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(key)
                pipe.expire(key, FAILURE_WINDOW_S, nx=True)
                await pipe.execute()

    async def succeeded(self, email: str, address: str) -> None:
        await self._redis.delete(self._keys(email, address)[0])


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"
