"""The page at `/`: a small demo shop ("Mitti & Co.", order status and help) with the
chat widget on it, added with the same one tag a real shop uses.

`/?as=priya` plays the shop's signed-in customer: this route is the shop's server
side here, so it signs that customer's email with `WEB_IDENTITY_SECRET` exactly as
a shop would, and the widget starts a verified chat. It signs only the customers of
the demo back-end's own orders, chosen by first name, and only when the secret is
set: with no secret, identity stays off (DESIGN: a secret shared with someone else
is never generated) and the page says how to turn it on. Nothing the visitor sends
is signed, so this is not a signing service, and a forged signature still verifies
nowhere. `?lang=hi` picks the chat's language.
"""

from __future__ import annotations

import secrets

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from app.resources import Resources
from channels.web import sign_customer
from orders.models import Customer, Order

SAMPLE_ORDERS = ("100003", "100006", "100011", "100008")  # docs/demo-orders.md
SIGN_IN_AS = ("priya", "deepak")  # shoppers with several orders
LANGUAGE_NAMES = {"en": "English", "hi": "हिन्दी"}


def demo_customers(shop: list[Order]) -> dict[str, Customer]:
    """The demo shop's customers by lower-case first name (`priya`)."""
    customers: dict[str, Customer] = {}
    for order in shop:
        customers.setdefault(order.customer.name.split()[0].casefold(), order.customer)
    return customers


async def index(request: Request) -> Response:
    """The page's script and style carry a per-response nonce, so the CSP can forbid
    every other script: text from the chat can never run as code."""
    resources: Resources = request.state.resources
    settings = resources.settings
    pages: Jinja2Templates = request.app.state.pages
    languages = sorted(resources.catalogue.languages)
    locale = request.query_params.get("lang", "")
    locale = locale if locale in languages else "en"

    secret = settings.web_identity_secret
    identity_on = secret is not None and settings.order_backend == "demo"
    customers = demo_customers(resources.shop) if identity_on else {}
    customer = customers.get(request.query_params.get("as", "").casefold())
    signature = (
        sign_customer(customer.email, secret.get_secret_value()) if customer and secret else None
    )
    by_number = {order.number: order for order in resources.shop}
    nonce = secrets.token_urlsafe(16)
    response = pages.TemplateResponse(
        request,
        "index.html",
        {
            "nonce": nonce,
            "locale": locale,
            "languages": [(code, LANGUAGE_NAMES.get(code, code)) for code in languages],
            "identity_on": identity_on,
            "customer": customer if signature else None,
            "signature": signature,
            "as_key": request.query_params.get("as", "").casefold() if signature else "",
            "sign_in": [(key, customers[key].name) for key in SIGN_IN_AS if key in customers],
            "samples": [by_number[n] for n in SAMPLE_ORDERS if n in by_number],
            "public_url": settings.public_url,
        },
    )
    response.headers["Content-Security-Policy"] = (
        f"default-src 'self'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
        "img-src 'self' data: blob:; base-uri 'none'; form-action 'self'; frame-ancestors 'self'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


routes = [Route("/", index, methods=["GET"])]
