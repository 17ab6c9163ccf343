"""Provider payloads for tests: the captured shapes in `tests/payloads/`, with the
few fields a test changes, and Twilio signatures made by Twilio's own validator."""

from __future__ import annotations

import copy
import itertools
import json
from pathlib import Path
from typing import Any

from twilio.request_validator import RequestValidator

PAYLOADS = Path(__file__).resolve().parent / "payloads"
SHOPPER_ID = 7001  # the Telegram user in the captured updates
_update_ids = itertools.count(903_000_001)
_sids = itertools.count(1)


def next_update_id() -> int:
    return next(_update_ids)


def next_sid(kind: str = "SM") -> str:
    return f"{kind}{next(_sids):032x}"


def _load(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _replace_user(node: Any, user_id: int, language: str | None) -> None:
    """The shopper's id in `from`, `chat`, `user` and their own contact."""
    if isinstance(node, dict):
        for key in ("id", "user_id"):
            if node.get(key) == SHOPPER_ID:
                node[key] = user_id
        if language is not None and "language_code" in node:
            node["language_code"] = language
        for value in node.values():
            _replace_user(value, user_id, language)
    elif isinstance(node, list):
        for value in node:
            _replace_user(value, user_id, language)


def telegram_update(
    name: str,
    *,
    update_id: int | None = None,
    text: str | None = None,
    data: str | None = None,
    user_id: int = SHOPPER_ID,
    language: str | None = None,
) -> dict[str, Any]:
    update = copy.deepcopy(_load(PAYLOADS / "telegram" / f"{name}.json"))
    update["update_id"] = update_id if update_id is not None else next_update_id()
    _replace_user(update, user_id, language)
    if text is not None:
        update["message"]["text"] = text
        update["message"].pop("entities", None)
    if data is not None:
        update["callback_query"]["data"] = data
        update["callback_query"]["id"] = str(next_update_id())
    return update


def twilio_form(name: str, **fields: str) -> dict[str, str]:
    """A captured form with `fields` changed; `MessageSid` (and its copies) fresh
    unless given."""
    form = dict(_load(PAYLOADS / "twilio" / f"{name}.json"))
    if "MessageSid" not in fields and not name.startswith("status"):
        sid = next_sid(form["MessageSid"][:2])
        form.update(MessageSid=sid, SmsSid=sid, SmsMessageSid=sid)
    form.update(fields)
    return form


def twilio_signature(url: str, form: dict[str, str], auth_token: str) -> str:
    return str(RequestValidator(auth_token).compute_signature(url, form))
