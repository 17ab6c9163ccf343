"""The peer: the same Telegram dialogue built the way python-telegram-bot's own
documentation builds a bot, measured in the same run as ours.

An `Application` with a `ConversationHandler` of the shape menu → order number →
snapshot (→ menu), its state in PTB's default memory (a dict in this process),
behind a webhook served like PTB's "custom webhook" example: a Starlette route that
checks the secret token, parses the `Update` and puts it on the application's
update queue; the application's own loop runs the handlers, which answer through
its `Bot` (PTB's default httpx transport) to the same fake Bot API as ours. The
order comes from the same demo shop in Redis (`orders.demo`), so the peer does the
same lookup; a callback query is answered with `answerCallbackQuery`, as PTB's
examples do (our bot answers it in the webhook's response body instead).

Started by `benchmarks.serve` like the bot (one uvicorn worker, the same core), with
the bot's environment: `TELEGRAM_BOT_TOKEN`, `TELEGRAM_WEBHOOK_SECRET`,
`TELEGRAM_API_URL`, `REDIS_URL`, `REDIS_PREFIX`. The words are our catalogue's
English texts, so the benchmark checks the peer's replies the same way as ours.
"""

from __future__ import annotations

import hmac
import json
import os
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    filters,
)
from telegram.warnings import PTBUserWarning

from orders.demo import DemoBackend
from templates import MESSAGES_DIR

MENU, ORDER = range(2)
PATH = "/webhooks/telegram"


class _Words:
    def __init__(self) -> None:
        self._texts: dict[str, str] = json.loads((MESSAGES_DIR / "en.json").read_text("utf-8"))

    def __call__(self, key: str, **params: object) -> str:
        return self._texts[key].format_map(_Blank(params))


class _Blank(dict[str, object]):
    def __missing__(self, key: str) -> str:
        return ""


WORDS = _Words()
MENU_KEYBOARD = InlineKeyboardMarkup([
    [InlineKeyboardButton("Track order", callback_data="m:track"),
     InlineKeyboardButton("Cancel", callback_data="m:cancel")],
    [InlineKeyboardButton("Return or replace", callback_data="m:rr"),
     InlineKeyboardButton("Talk to us", callback_data="m:agent")],
])
BACK = InlineKeyboardMarkup([[InlineKeyboardButton("Menu", callback_data="menu")]])


async def greet(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    chat = update.effective_chat
    assert chat is not None
    await context.bot.send_message(chat.id, WORDS("welcome"))
    await context.bot.send_message(chat.id, WORDS("menu.prompt"), reply_markup=MENU_KEYBOARD)
    return MENU


async def ask_order(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    query = update.callback_query
    assert query is not None and update.effective_chat is not None
    await query.answer()
    await context.bot.send_message(update.effective_chat.id,
                                   WORDS("order.ask", action="track"))
    return ORDER


async def show_menu(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    query = update.callback_query
    assert query is not None and update.effective_chat is not None
    await query.answer()
    await context.bot.send_message(update.effective_chat.id, WORDS("menu.prompt"),
                                   reply_markup=MENU_KEYBOARD)
    return MENU


async def snapshot(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    message = update.effective_message
    assert message is not None and message.text is not None
    shop: DemoBackend = context.bot_data["shop"]
    order = await shop.get_order(message.text.strip().lstrip("#"))
    if order is None:
        await message.reply_text("No order with that number. Please check it.")
        return ORDER
    lines = [WORDS("snapshot.header", number=order.number, date=order.placed_at.date(),
                   status=order.status.value)]
    lines += [f"{line.quantity} × {line.name}" for line in order.items]
    await context.bot.send_message(message.chat_id, "\n".join(lines), reply_markup=BACK)
    return MENU


def conversation() -> ConversationHandler[Any]:
    with warnings.catch_warnings():
        # per_message=False is meant: the state is per chat, as in PTB's examples
        warnings.simplefilter("ignore", PTBUserWarning)
        return ConversationHandler(
            entry_points=[MessageHandler(filters.TEXT & ~filters.COMMAND, greet)],
            states={
                MENU: [CallbackQueryHandler(ask_order, pattern="^m:track$"),
                       CallbackQueryHandler(show_menu, pattern="^menu$")],
                ORDER: [MessageHandler(filters.TEXT & ~filters.COMMAND, snapshot)],
            },
            fallbacks=[CallbackQueryHandler(show_menu, pattern="^menu$")],
        )


def create_app() -> Starlette:
    token = os.environ["TELEGRAM_BOT_TOKEN"]
    secret = os.environ["TELEGRAM_WEBHOOK_SECRET"].encode()
    api = os.environ.get("TELEGRAM_API_URL", "https://api.telegram.org")
    application = Application.builder().token(token).base_url(f"{api}/bot").updater(None).build()
    application.add_handler(conversation())

    async def webhook(request: Request) -> Response:
        given = request.headers.get("x-telegram-bot-api-secret-token", "").encode()
        if not hmac.compare_digest(given, secret):
            return Response(status_code=403)
        update = Update.de_json(await request.json(), application.bot)
        await application.update_queue.put(update)
        return Response()

    async def ready(request: Request) -> Response:
        return Response(b"ok")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        redis = aioredis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379"))
        application.bot_data["shop"] = DemoBackend(redis,
                                                   prefix=os.environ.get("REDIS_PREFIX", "ohb:"))
        async with application:
            await application.start()
            try:
                yield
            finally:
                await application.stop()
        await redis.aclose()

    return Starlette(routes=[Route(PATH, webhook, methods=["POST"]),
                             Route("/readyz", ready)], lifespan=lifespan)
