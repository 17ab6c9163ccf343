"""The optional `NLU_URL` fallback against a local fake OpenAI-compatible endpoint:
it classifies only what the rules did not read, keeps only known intents and order
numbers that are in the message, and a slow or broken endpoint is "not understood"."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from app.nlu import ChatCompletionsClassifier
from conversation.engine import Engine
from conversation.understanding import Intent, Understood
from tests.conversation.chat import Chat
from tests.conversation.conftest import (  # noqa: F401 (the dialogue's fixtures)
    catalogue,
    clock,
    make_engine,
    sample_orders,
    shop,
)
from tests.live import serving


class FakeModel:
    """Answers each chat completion with `content` (or a failure), and keeps the asks."""

    def __init__(self) -> None:
        self.content: Any = '{"intent": "none", "order": null}'
        self.status = 200
        self.delay = 0.0
        self.asked: list[dict[str, Any]] = []

    def app(self) -> Starlette:
        async def complete(request: Request) -> Response:
            self.asked.append(await request.json())
            await asyncio.sleep(self.delay)
            if self.status != 200:
                return PlainTextResponse("overloaded", status_code=self.status)
            if self.content is None:
                return PlainTextResponse("<html>not json</html>")
            return JSONResponse({"choices": [{"message": {"role": "assistant",
                                                          "content": self.content}}]})

        return Starlette(routes=[Route("/v1/chat/completions", complete, methods=["POST"])])


@pytest.fixture
async def model() -> AsyncIterator[tuple[FakeModel, str]]:
    fake = FakeModel()
    async with serving(fake.app(), lifespan="off") as (url, _server):
        yield fake, url + "/v1"


@pytest.fixture
async def classifier(model: tuple[FakeModel, str]) -> AsyncIterator[ChatCompletionsClassifier]:
    async with httpx.AsyncClient() as http:
        yield ChatCompletionsClassifier(model[1], "local", http, api_key="k", timeout=0.5)


@pytest.mark.parametrize(("content", "text", "expected"), [
    ('{"intent": "late", "order": "100234"}', "the thing 100234 never showed",
     Understood(Intent.LATE, "100234")),
    ('```json\n{"intent": "REFUND", "order": null}\n```', "moneys pls",
     Understood(Intent.REFUND, None)),
    ('{"intent": "late", "order": "100999"}', "the thing 100234 never showed",
     Understood(Intent.LATE, None)),  # an order number it made up is dropped
    ('{"intent": "teleport", "order": null}', "beam me up", Understood(None, None)),
    ('{"intent": "none", "order": null}', "hmm", Understood(None, None)),
])
async def test_answers_are_kept_only_as_far_as_they_are_ours(
    model: tuple[FakeModel, str], classifier: ChatCompletionsClassifier,
    content: str, text: str, expected: Understood,
) -> None:
    model[0].content = content
    assert await classifier.classify(text) == expected
    asked = model[0].asked[-1]
    assert asked["messages"][-1] == {"role": "user", "content": text}
    assert asked["model"] == "local" and asked["temperature"] == 0


@pytest.mark.parametrize("trouble", ["slow", "500", "not json", "no object", "truncated",
                                     "not an object"])
async def test_a_slow_or_broken_endpoint_is_not_understood(
    model: tuple[FakeModel, str], classifier: ChatCompletionsClassifier, trouble: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = model[0]
    match trouble:
        case "slow":
            fake.delay = 2.0
        case "500":
            fake.status = 500
        case "not json":
            fake.content = None
        case "no object":
            fake.content = "I think they want a refund"
        case "truncated":
            fake.content = '{"intent": "refund", "ord'
        case "not an object":
            fake.content = json.dumps({"choices": "refund"})[:-1] + ', "x": [1}'

    assert await classifier.classify("where my money 100234") is None
    assert "where my money" not in caplog.text  # no shopper text in the logs


async def test_the_dialogue_asks_it_only_when_understanding_reads_nothing(
    model: tuple[FakeModel, str], classifier: ChatCompletionsClassifier,
    make_engine: Callable[..., Engine],  # noqa: F811 (the fixture imported above)
) -> None:
    fake = model[0]
    fake.content = '{"intent": "track", "order": null}'
    chat = Chat(make_engine(classifier=classifier))
    await chat.say("hi")
    await chat.say("where is my order")  # the rules read this: no call
    assert chat.keys == ["order.ask"] and fake.asked == []
    await chat.say("menu")
    await chat.say("yo thingy??")  # rules and shipped model read nothing: the endpoint says "track"
    assert chat.keys == ["order.ask"] and len(fake.asked) == 1
    fake.status = 503
    await chat.say("menu")
    await chat.say("blorp")  # the model is down: asked again, as without one
    assert chat.keys[0] == "not_understood"
