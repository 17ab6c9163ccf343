"""Spelling variants folded to one form before cues are matched, so one cue covers the
ways people type a word: Hindi in Latin letters has no fixed spelling ("nahi", "nhi",
"nai"; "pahuncha", "pahucha", "pohcha"; "wapas", "vapas"), chat shorthand drops vowels
("kr", "plz", "ordr"), and Devanagari has optional marks (nukta, candrabindu, the
English "o" of "ऑर्डर" against "आर्डर").

Two levels: `canonical` maps a token to its usual word (exact table, applied to every
token, so negation words are recognised however they are typed); `sound` is a rough
phonetic key compared only when the exact words differ (both sides folded alike).
"""

from __future__ import annotations

import re
from functools import lru_cache

_SHORTHAND = {
    # negation
    "nhi": "nahi", "nai": "nahi", "nahin": "nahi", "nahee": "nahi", "nhin": "nahi",
    "ni": "nahi",
    # verbs and particles
    "kr": "kar", "kro": "karo", "krdo": "kardo", "krna": "karna", "krni": "karni",
    "krne": "karne", "kru": "karu", "krke": "karke", "kiye": "kiya", "h": "hai", "hy": "hai",
    "he": "hai", "hain": "hai", "hei": "hai", "mujhko": "mujhe", "muje": "mujhe",
    "mjhe": "mujhe", "q": "kyu", "kyun": "kyu", "kyon": "kyu", "kiu": "kyu", "abi": "abhi",
    "abhie": "abhi", "tk": "tak", "gya": "gaya",
    "gyi": "gayi", "gai": "gayi", "yrr": "yaar", "yr": "yaar",
    # English chat shorthand
    "plz": "please", "pls": "please", "plzz": "please", "pl": "please", "u": "you",
    "ur": "your", "r": "are", "wen": "when", "wat": "what", "wht": "what", "y": "why",
    "im": "i'm", "cant": "can't", "dont": "don't", "didnt": "didn't", "havent": "haven't",
    "hasnt": "hasn't", "wont": "won't", "isnt": "isn't", "doesnt": "doesn't", "msg": "message",
    "ordr": "order", "odr": "order", "oder": "order", "ordar": "order", "parcal": "parcel",
    "pkg": "package", "dlvry": "delivery", "delivary": "delivery", "delievery": "delivery",
    "recieved": "received", "recived": "received", "receieved": "received",
    "recieve": "receive", "refnd": "refund", "rfnd": "refund", "amt": "amount",
    "addr": "address", "adress": "address", "addres": "address",
}

_DEVANAGARI = str.maketrans({
    "\u093c": None,      # nukta: ज़ -> ज, ड़ stays readable as ड
    "\u0901": "\u0902",  # candrabindu -> anusvara: कहाँ -> कहां
    "\u0949": "\u093e",  # the English "o" sign: ऑर्डर -> आर्डर
    "\u0911": "\u0906",  # the English "O": ऑ -> आ
    "\u0945": "\u0947",  # the English "e" sign: कैश -> stays, ॅ -> े
})


def canonical(token: str) -> str:
    """The usual spelling of a token (shorthand expanded, Devanagari marks folded)."""
    if token and "\u0900" <= token[0] <= "\u097f":
        return token.translate(_DEVANAGARI)
    return _SHORTHAND.get(token, token)


_VOWEL_RUNS = re.compile(r"([aeiou])\1+")
_DOUBLE = re.compile(r"([b-df-hj-np-tv-z])\1+")
_NASAL = re.compile(r"(?<=[aeiou])n(?=[bcdfghjkpqstvz])")


@lru_cache(maxsize=4096)
def sound(word: str) -> str:
    """A rough key for Latin-letter Hindi (and English) words: "w" as "v", long vowels
    short ("aaya" = "aya", "ee" = "i", "oo" = "u"), double consonants single, a nasal
    "n" before a consonant or at the end dropped ("pahuncha" = "pahucha", "kahan" =
    "kaha")."""
    if not word.isascii() or len(word) < 3:
        return word
    w = word.replace("w", "v").replace("ee", "i").replace("oo", "u").replace("z", "j")
    w = _VOWEL_RUNS.sub(r"\1", w)
    w = _DOUBLE.sub(r"\1", w)
    w = _NASAL.sub("", w)
    if len(w) > 3 and w.endswith("n") and w[-2] in "aeiou":
        w = w[:-1]
    return w
