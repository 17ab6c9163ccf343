"""The words that tell what a shopper wants (`understanding`), per intent, in English,
Hindi and Hindi in Latin letters. Data only: the matching is in `understanding`.

A cue is one or more words. A word ending in "*" matches any word it starts; ".." in a
cue skips up to two words ("what can .. do": "what can this bot do"). Latin words are
compared by their spelling key too (`spelling.sound`), and words of six letters or more
one typo away, so a cue is written once in its usual spelling.

Groups are written as kinds of phrasing, not as sample messages: the verbs of an ask
and their objects, with their common Hindi and Hinglish forms.
"""

from __future__ import annotations

from enum import StrEnum


class Intent(StrEnum):
    AGENT = "agent"
    CANCEL = "cancel"
    DELIVERY = "delivery"
    REPLACE = "replace"
    RETURN = "return"
    REFUND = "refund"
    SUBSCRIBE = "subscribe"
    LATE = "late"
    TRACK = "track"
    CAPABILITIES = "capabilities"


PRIORITY = tuple(Intent)
"""Of several intents found, the first in this order wins."""

CUES: dict[Intent, tuple[str, ...]] = {
    Intent.AGENT: (
        "human", "agent", "representative", "real person", "a person", "speak to", "speak with",
        "talk to", "customer care", "customer service", "customer support", "support team",
        "live agent", "someone call", "someone from", "someone real", "call me", "connect me",
        "manager", "supervisor", "complain*",
        "insaan", "aadmi", "baat karni", "baat karao", "baat karwao", "baat karwa", "baat kara*",
        "call karo", "call kar do", "call kijiye", "connect karo", "connect kar do",
        "इंसान", "एजेंट", "व्यक्ति", "बात करनी", "बात कराइए", "बात करवाइए", "बात कराओ",
        "बात करवाओ", "कॉल करें", "कॉल करो", "कॉल कीजिए", "कॉल कर*", "मैनेजर", "कस्टमर केयर",
        "सपोर्ट टीम", "जोड़ दीजिए", "जोड़ दो", "शिकायत",
    ),
    Intent.CANCEL: (
        "cancel", "cancellation", "stop my order", "don't ship", "don't send", "do not ship",
        "do not send", "void", "withdraw my order", "withdraw order", "withdraw the order",
        "radd", "hata do", "hatao", "mat bhejo", "mat bhejna", "rok do", "rok dijiye",
        "रद्द", "कैंसल", "कैंसिल", "निरस्त", "मत भेज*", "हटा दो", "हटा दीजिए", "रोक दो",
        "रोक दीजिए",
    ),
    Intent.DELIVERY: (
        "address", "reschedule", "postpone*", "different date", "another date", "another day",
        "change the delivery", "change delivery", "deliver on", "delivered to", "deliver it on",
        "deliver to", "deliver at", "deliver after", "deliver before", "send it to",
        "moved to", "move the delivery", "pincode", "pin code", "instead of home",
        "hold the", "hold my", "hold it", "hold kar", "rok lo", "rok lijiye", "till i'm back",
        "deliver .. after", "deliver .. before", "deliver .. between", "no one is home",
        "nobody is home", "nobody at home", "not at home", "baje ke baad", "baje se pehle",
        "ghar pe koi nahi", "बजे के बाद", "बजे से पहले", "घर पर कोई नहीं",
        "पिनकोड", "पिन कोड", "रोक लीजिए", "रोक लो", "रोक कर",
        "pata", "kisi aur din", "date change", "delivery kar dena", "deliver kar do",
        "deliver kar dena", "pe bhej do", "par bhej do", "baad kar", "aage kar",
        "पता", "पते", "एड्रेस", "किसी और दिन", "तारीख बदल*", "दिन बदल*", "डिलीवरी कर देना",
        "डिलीवरी कर दीजिए", "डिलीवरी कर दो", "पर भेज दो", "पर भेज दीजिए",
        "अगले हफ्ते", "बाद में भेज*",
    ),
    Intent.REPLACE: (
        "replace", "replacement", "exchange", "swap", "new one", "send another",
        "another one", "send a new", "right size", "correct size", "right one", "correct one",
        "sahi size",
        "sahi wala", "सही साइज", "सही वाला", "badal*", "naya bhejo",
        "nayi bhejo", "naya bhej do", "nayi bhej do", "dusra bhejo", "dusri bhejo",
        "dusra chahiye", "dusri chahiye", "बदल*", "नया भेज*", "नई भेज*", "दूसरा भेज*",
        "दूसरी भेज*", "दूसरा चाहिए", "रिप्लेस*", "एक्सचेंज",
    ),
    Intent.RETURN: (
        "return", "returns", "returning", "send back", "send it back", "send them back",
        "give it back", "take it back", "take back", "take them back", "pick it up",
        "pick up the", "come and pick", "collect it", "utha lo", "le jao", "le jaiye",
        "ले जाइए", "ले जाओ", "उठा लो", "wapas karna", "wapas kar", "wapas karni", "wapas karne",
        "वापस कर*",
        "wapas bhejna", "wapas kaise", "wapas le lo", "wapas lena", "wapis karna", "lauta*",
        "nahi rakhna", "वापस करना", "वापस करने", "वापस कैसे", "वापस भेज*", "वापस ले*",
        "वापिस", "लौटा*", "रिटर्न", "नहीं रखना",
    ),
    Intent.REFUND: (
        "refund", "refunds", "money back", "money", "my amount", "deducted", "credited",
        "no credit", "not credited", "how much .. get back", "paisa", "paise",
        "rifund", "रिफंड", "धनवापसी", "पैसे", "पैसा", "रकम", "राशि",
    ),
    Intent.SUBSCRIBE: (
        "keep me posted", "notify me", "send me updates", "keep me updated", "let me know when",
        "let me know once", "let me know as soon", "message me when", "message when",
        "tell me when", "inform me when", "send updates", "send me update*", "ping me",
        "text me when", "alert me", "message kar dena", "मैसेज कर देना", "मैसेज कर दीजिए",
        "hote hi", "होते ही", "बता दीजिएगा", "होने पर बता*", "hone par bata*",
        "dete rehna", "bhejte rehna", "batate rehna", "batana", "bata dena", "message kar dena",
        "बता देना", "देते रहना", "बताते रहना", "भेजते रहिए", "भेजते रहना", "बता दीजिए",
    ),
    Intent.LATE: (
        "late", "delayed", "delay", "overdue", "not received", "haven't received",
        "didn't receive", "didn't get", "never got", "never received", "never came",
        "never arrived", "hasn't arrived", "not arrived", "still not", "still nothing",
        "still waiting", "hasn't come", "not come", "not yet delivered", "due", "no sign",
        "taking so long", "taking too long", "so long", "date passed", "missing", "stuck",
        "keeps saying", "pata nahi chal", "पता नहीं चल", "कुछ पता नहीं", "been waiting",
        "waiting since", "no movement", "not moving", "movement nahi", "हलचल नहीं",
        "इंतज़ार", "intezaar",
        "lost", "not delivered",
        "atka*", "deliver nahi", "nahi mila", "mila nahi", "nahi aaya", "aaya hi nahi",
        "mila hi nahi", "receive nahi", "gayab", "nahi pahuncha", "pahuncha nahi",
        "itna time", "bahut time", "kitna time", "pada hua", "pada hai", "ata pata nahi",
        "date nikal", "लेट", "देरी", "देर", "नहीं मिला", "मिला नहीं", "नहीं आया", "आया ही नहीं",
        "मिला ही नहीं", "गुम", "प्राप्त नहीं", "नहीं पहुंचा", "पहुंचा नहीं", "अटका*",
        "डिलीवर नहीं", "कोई पता नहीं", "तारीख निकल",
    ),
    Intent.TRACK: (
        "where", "where's", "status", "delivery date", "want to know", "track", "tracking",
        "trak", "eta", "when will", "when is", "arrive*", "shipped", "dispatch*", "location",
        "on the way", "update", "reach me", "what's happening", "out for delivery",
        "picked up", "how long until", "check order", "check on", "how far", "which courier",
        "awb", "what happened", "expected delivery", "processing", "left your warehouse",
        "left the warehouse", "courier company", "कूरियर", "courier boy", "by when",
        "will be delivered", "will it be delivered", "handed over", "handed to", "courier ko",
        "kya haal", "क्या हाल",
        "kidhar", "pahunch*", "kahan", "kab", "ship hua", "ship ho gaya", "nikla", "utha",
        "aayega", "jayega", "milega", "milegi", "kitne din", "kya hua", "kya scene",
        "deliver hoga", "delivery hogi",
        "किधर", "कहाँ", "कहां", "कब", "स्टेटस", "स्थिति", "ट्रैक*", "भेज दिया", "भेजा गया",
        "शिप", "पहुं*", "जानकारी", "अपडेट", "आएगा", "उठाया", "किस जगह", "मिलेगा", "मिलेगी",
        "क्या हुआ",
    ),
    Intent.CAPABILITIES: (
        "what can you do", "what can .. do", "how can you help", "what are my options",
        "what can i ask", "what services", "what all can", "what do you help", "help with",
        "how does this work", "things you can", "what can you help", "what .. you can help",
        "kya kya kar sak*", "kya kar sak*", "madad kar sakte",
        "kya kya options", "help kar sakte", "kis kaam", "kya puch*", "kya pooch*",
        "क्या क्या कर सकते", "क्या कर सकते", "मदद कर सकते", "पूछ सकता", "पूछ सकती",
        "पूछ सकते", "किस काम", "मदद करते",
    ),
}

WEAK_CUES: dict[Intent, tuple[str, ...]] = {
    Intent.REPLACE: (
        "wrong item", "wrong product", "wrong size", "wrong colour", "wrong color", "damaged",
        "broken", "defective", "faulty", "cracked", "shattered", "chipped", "torn", "leak*",
        "not working", "isn't working", "doesn't work", "stopped working", "dead on arrival",
        "toota", "tooti", "phata", "phati", "kharab", "galat", "chal nahi", "kaam nahi",
        "crack*", "instead of", "ki jagah", "की जगह", "fade*", "फीकी",
        "टूटा", "टूटी", "फटा", "फटी", "खराब", "गलत", "डैमेज", "लीक", "चल नहीं", "काम नहीं",
    ),
}
"""Cues that say what is wrong, not what to do: taken only when nothing else is asked
("wrong size, cancel it" is a cancel; "wrong item delivered" alone asks for the right one)."""

# "I don't want to cancel", "not cancelling", "never mind about the refund": a negation
# before the cue with only these words between
NEGATION_BEFORE = frozenset({"don't", "not", "won't", "never", "without"})
BETWEEN = frozenset({"want", "wanna", "to", "need", "going", "mind", "about", "the", "my",
                     "it", "this", "a", "any", "more", "do", "i", "longer"})
# "cancel nahi karna", "रिटर्न नहीं करना": a negation, then a wish (or nothing), after it
NEGATION_AFTER = frozenset({"nahi", "mat", "नहीं", "मत"})
WISH = frozenset({"karna", "karni", "karo", "chahiye", "karenge", "करना", "करनी", "करो",
                  "चाहिए", "करेंगे", "hai", "है", "ab", "अब"})
# a cancel or return that already happened: "cancel kiya tha", "लौटा दिया था"
PAST = frozenset({"tha", "thi", "gaya", "gayi", "diya", "kiya", "baad", "hua", "hui", "था",
                  "थी", "गया", "गई", "दिया", "किया", "किए", "बाद", "हुआ", "हुई"})
PAST_WORDS = frozenset({"returned", "cancelled", "canceled"})
CONTEXT_WHEN_PAST = frozenset({Intent.CANCEL, Intent.RETURN})
NOT_NEGATED = frozenset({Intent.LATE, Intent.TRACK, Intent.CAPABILITIES})
"""Intents that are not asks a negation withdraws ("not received" is the complaint)."""

NOT_WHEN_FOLLOWED = {"pata": frozenset({"nahi", "chal", "karo", "kijiye", "lagao"}),
                     "पता": frozenset({"नहीं", "चल", "करो", "कीजिए", "लगाओ"})}
"""A cue word that means something else before these words: "pata" is an address, but
"pata nahi" is "no idea" and "pata karo" is "find out"."""

ARRIVAL = frozenset({"arrived", "arrive", "came", "come", "reached", "reach", "showed",
                     "shown", "turned", "delivered", "aaya", "aayi", "aaye", "aata", "aati",
                     "pahuncha", "pahunchi", "आया", "आई", "आए", "आता", "आती", "पहुंचा",
                     "पहुंची"})
"""Arrival verbs: with a negation next to them ("never showed up", "aata nahi") the
parcel is late."""
SHIP_VERBS = frozenset({"ship", "send", "dispatch", "deliver", "bhejo", "bhejna", "bhejiye",
                        "भेजो", "भेजना", "भेजिए", "डिस्पैच", "शिप"})
DONT = frozenset({"don't", "mat", "मत"})
""""don't dispatch it", "dispatch mat karna", "मत भेजो": not sending it is a cancel."""
DURATION_UNITS = frozenset({"days", "day", "weeks", "week", "din", "hafte", "hafta", "दिन",
                            "हफ्ते", "हफ़्ते", "हफ्ता"})
DURATION_SINCE = frozenset({"now", "se", "से", "already"})
""""for 4 days now", "4 din se": a wait counted in days."""

# "still not here", "abhi tak nahi": a wait and a negation, with no arrival word needed
STILL = ("still", "yet", "till now", "so far", "abhi tak", "ab tak", "अभी तक", "अब तक")
NEGATION = frozenset({"not", "no", "never", "nahi", "नहीं", "didn't", "haven't", "hasn't",
                      "isn't", "nothing"})
