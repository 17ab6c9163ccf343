"""`NLU_URL`: an OpenAI-compatible chat endpoint (a local model server, for example)
that reads a message the rules did not, into the same intents and an order number.

Off by default. It only classifies: the dialogue still checks eligibility and says
every word. Whatever comes back is kept only as far as `understanding.checked`
allows (a known intent; an order number that is in the message). A slow, failing or
nonsensical endpoint is the same as "not understood" (one log line, no message text),
so the shopper is asked again with the choices on screen.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from app.settings import Settings
from conversation.understanding import Intent, Understood, checked

log = logging.getLogger(__name__)

MAX_TEXT = 500

PROMPT = (
    "You read one message a shopper sent to an online shop's order-help chat, in English, "
    "Hindi or Hinglish. Answer with JSON only: {\"intent\": I, \"order\": N}. I is one of "
    + ", ".join(f'"{i.value}"' for i in Intent)
    + ", or \"none\" when it is none of these (\"late\": a parcel that is late or did not "
    "arrive; \"delivery\": change the address or date; \"capabilities\": what the bot can "
    "do). N is the order number written in the message (5 to 8 digits), or null."
)


class ChatCompletionsClassifier:
    def __init__(self, url: str, model: str, http: httpx.AsyncClient, *,
                 api_key: str | None = None, timeout: float = 3.0) -> None:
        base = url.rstrip("/")
        self._url = base if base.endswith("/chat/completions") else base + "/chat/completions"
        self._model = model
        self._http = http
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout = timeout

    async def classify(self, text: str) -> Understood | None:
        body = {
            "model": self._model,
            "temperature": 0,
            "messages": [{"role": "system", "content": PROMPT},
                         {"role": "user", "content": text[:MAX_TEXT]}],
        }
        try:
            response = await self._http.post(self._url, json=body, headers=self._headers,
                                             timeout=self._timeout)
            response.raise_for_status()
            answer = _json_object(response.json()["choices"][0]["message"]["content"])
            return checked(text, answer.get("intent"), answer.get("order"))
        except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError,
                AttributeError) as exc:
            log.warning("nlu: no usable answer (%s)", type(exc).__name__)
            return None


def _json_object(content: Any) -> dict[str, Any]:
    """The first JSON object in the reply (models like to wrap it in ``` fences)."""
    text = str(content)
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        raise ValueError("no JSON object in the answer")
    value = json.loads(text[start:end + 1])
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


@asynccontextmanager
async def open_classifier(settings: Settings) -> AsyncIterator[ChatCompletionsClassifier | None]:
    """The classifier when `NLU_URL` is set, with its own pooled HTTP client."""
    if not settings.nlu_url:
        yield None
        return
    key = settings.nlu_api_key.get_secret_value() if settings.nlu_api_key else None
    async with httpx.AsyncClient() as http:
        log.info("nlu: free text the rules do not read goes to NLU_URL")
        yield ChatCompletionsClassifier(settings.nlu_url, settings.nlu_model, http,
                                        api_key=key, timeout=settings.nlu_timeout_s)
