"""Phone numbers as shoppers type them, turned into E.164 so they can be compared.

Shoppers write the same number many ways ("+91 98123 45678", "09812345678",
"919812345678"); orders store E.164. The dialogue reuses this for second-factor
checks, so anything that is not a valid number gives `None`, never a guess.
"""

from __future__ import annotations

import phonenumbers

MAX_PHONE_TEXT = 40
"""Longer input is not a phone number; refusing it early keeps the parser cheap."""


def normalise_phone(text: str, default_region: str = "IN") -> str | None:
    """E.164 form of `text` (for example "+919812345678"), or None when it is not a
    valid number. Numbers without a country code are read in `default_region`."""
    text = text.strip()
    if not text or len(text) > MAX_PHONE_TEXT:
        return None
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
