"""`python -m app telegram set-webhook | webhook-info`: connect the bot to Telegram.

`set-webhook` tells Telegram to POST updates to `PUBLIC_URL/webhooks/telegram`
with the secret token, for exactly the update types the adapter handles, and
prints what Telegram answered. `webhook-info` prints Telegram's view of the
webhook (URL, pending updates, the last delivery error). Neither prints the bot
token or the secret.
"""

from __future__ import annotations

import json
import re
import sys

from telegram import Bot
from telegram.error import TelegramError, TimedOut

from app.channels import TELEGRAM_WEBHOOK_PATH, make_bot, redact_bot_tokens_in_logs
from app.settings import Settings
from channels.telegram import ALLOWED_UPDATES
from channels.telegram_transport import TelegramUnreachable

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")  # what Telegram accepts


async def run(settings: Settings, action: str) -> int:
    if settings.telegram_bot_token is None:
        print("Set TELEGRAM_BOT_TOKEN (from @BotFather) first.", file=sys.stderr)
        return EXIT_USAGE
    redact_bot_tokens_in_logs()
    bot = make_bot(settings)
    try:
        async with bot:
            if action == "set-webhook":
                return await _set_webhook(settings, bot)
            info = await bot.get_webhook_info()
            print(json.dumps(info.to_dict(), indent=2, ensure_ascii=False, default=str))
            return EXIT_OK
    except TelegramError as exc:  # `InvalidToken`'s text quotes the token: name only
        what = type(exc).__name__
        if unreachable(exc):
            print(f"cannot reach Telegram at {settings.telegram_api_url} ({what}); check the "
                  "network, a proxy, or TELEGRAM_API_URL", file=sys.stderr)
            return EXIT_FAILED
        detail = "" if what == "InvalidToken" else f": {exc.message}"
        print(f"Telegram refused ({what}{detail})", file=sys.stderr)
        return EXIT_FAILED


def unreachable(exc: TelegramError) -> bool:
    """The request never got an answer (no connection, DNS, a timeout). Not any
    `NetworkError`: PTB also raises that for answers such as a 502."""
    return isinstance(exc, TimedOut | TelegramUnreachable)


async def _set_webhook(settings: Settings, bot: Bot) -> int:
    secret = settings.telegram_webhook_secret
    if secret is None or not SECRET_TOKEN.match(secret.get_secret_value()):
        print("Set TELEGRAM_WEBHOOK_SECRET: 1-256 characters of A-Z a-z 0-9 _ -.",
              file=sys.stderr)
        return EXIT_USAGE
    if not settings.public_url.startswith("https://"):
        print("PUBLIC_URL must be https:// (Telegram only calls HTTPS webhooks).",
              file=sys.stderr)
        return EXIT_USAGE
    url = settings.public_url + TELEGRAM_WEBHOOK_PATH
    done = await bot.set_webhook(
        url=url, secret_token=secret.get_secret_value(), allowed_updates=list(ALLOWED_UPDATES)
    )
    print(f"Telegram answered: {'ok' if done else 'not done'}")
    print(f"webhook: {url}")
    print(f"updates: {', '.join(ALLOWED_UPDATES)}")
    return EXIT_OK if done else EXIT_FAILED
