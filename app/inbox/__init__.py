"""The support inbox: staff accounts, login, the pages at `/inbox`, the JSON API at
`/api/inbox/`, live updates, and the staff notification webhook.

    accounts   staff accounts in Redis, passwords hashed with Argon2id
    auth       login sessions (signed cookie + a Redis record), CSRF, login limits
    views      what a ticket page shows, built from the ticket, the shop and the log
    pages      the HTML pages (Jinja2, autoescaped; a little JavaScript)
    api        the JSON API (the same login; CSRF header on every change)
    events     server-sent events for live updates
    notify     the outgoing webhook's sender (Slack-compatible `{"text": ...}`)
    cli        `python -m app staff add|list|remove|password`

The ticket operations themselves (reply, resolve, approve...) live in
`conversation.staff`; this package is their HTTP face.
"""
