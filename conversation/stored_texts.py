"""What stored conversation data repeats, frozen for the compact formats of
`conversation.store` (issue 17: bytes per idle conversation).

Both tables are part of stored formats: what was written with them is read with
them. Only append to the texts (an index, once stored, means its text for good),
and never edit the dictionary (another one needs another marker in
`conversation.store`). They were copied from the catalogue (`templates/messages/`)
as it was; when the catalogue changes, the changed texts are simply stored in full:
it costs bytes, never a text.
"""

from __future__ import annotations

STATIC_TEXTS: tuple[str, ...] = (
    # the bot lines every conversation has, stored as their index: en, then hi
    'Hi! I can help with your orders: track them, cancel, return or replace items, change '
    'delivery and check refunds. Type "agent" at any time to reach a person.',
    'What can I help you with?',
    'Welcome back! We start from the menu again.',
    "I'll pass you to a person. Please describe the problem in one message (with the order "
    'number if you have one).',
    'Which order would you like to track? Please type the order number (for example 100234).',
    'Which order would you like to cancel? Please type the order number (for example 100234).',
    'Which order would you like to return? Please type the order number (for example 100234).',
    'Which order would you like to replace? Please type the order number (for example 100234).',
    'Which order would you like to return or replace items from? Please type the order number '
    '(for example 100234).',
    'Which order would you like to check the refund of? Please type the order number (for '
    'example 100234).',
    'Which order would you like to change the delivery of? Please type the order number (for '
    'example 100234).',
    'Which order would you like to exchange items from? Please type the order number (for '
    'example 100234).',
    'नमस्ते! यहाँ आप अपने ऑर्डर से जुड़ी मदद पा सकते हैं: ऑर्डर ट्रैक करें, कैंसिल करें, आइटम '
    'रिटर्न या रिप्लेस करें, डिलीवरी बदलें और रिफंड देखें। हमारी टीम के किसी सदस्य से बात करने '
    'के लिए कभी भी "agent" लिखें।',
    'बताइए, मैं आपकी क्या मदद करूँ?',
    'फिर से स्वागत है! चलिए, मेन्यू से दोबारा शुरू करते हैं।',
    'आपको हमारी टीम के किसी सदस्य से जोड़ा जा रहा है। कृपया एक ही मैसेज में अपनी समस्या बताएँ '
    '(अगर ऑर्डर नंबर हो, तो वह भी लिखें)।',
    'आप किस ऑर्डर के लिए ट्रैकिंग चाहते हैं? कृपया ऑर्डर नंबर लिखें (जैसे 100234)।',
    'आप किस ऑर्डर के लिए कैंसिलेशन चाहते हैं? कृपया ऑर्डर नंबर लिखें (जैसे 100234)।',
    'आप किस ऑर्डर के लिए रिटर्न चाहते हैं? कृपया ऑर्डर नंबर लिखें (जैसे 100234)।',
    'आप किस ऑर्डर के लिए रिप्लेसमेंट चाहते हैं? कृपया ऑर्डर नंबर लिखें (जैसे 100234)।',
    'आप किस ऑर्डर के लिए रिटर्न या रिप्लेसमेंट चाहते हैं? कृपया ऑर्डर नंबर लिखें (जैसे 100234)।',
    'आप किस ऑर्डर के लिए रिफंड की जानकारी चाहते हैं? कृपया ऑर्डर नंबर लिखें (जैसे 100234)।',
    'आप किस ऑर्डर के लिए डिलीवरी में बदलाव चाहते हैं? कृपया ऑर्डर नंबर लिखें (जैसे 100234)।',
    'आप किस ऑर्डर के लिए एक्सचेंज चाहते हैं? कृपया ऑर्डर नंबर लिखें (जैसे 100234)।',
)
"""Bot texts with no placeholder that most conversations repeat."""

ANSWER_DICTIONARY: bytes = (
    # the fragments of the English answers that recur, the most frequent last
    'Hi! I can help with your orders: track them, cancel, return or replace items, change '
    'delivery and check refunds. Type \\"agent\\" at any time to reach a '
    'person.","buttons":[],"links":[]},Thanks! Your request T- is with our team, with this '
    "conversation, so you won't need to repeat yourself. Replies will come here, in this "
    'chat.\\nChanged your mind? Tap \\"Back to the bot\\" (or write \\"menu\\") until someone '
    "replies.I'll pass you to a person. Please describe the problem in one message (with the "
    'order number if you have one).To protect your details, please type the email address or '
    'phone number used for order #Which order would you like to track? Please type the order '
    'number (for example 100234).{"label":"Arrived '
    'damaged","payload":"r:DAMAGED"},{"label":"Doesn\'t '
    'work","payload":"r:DEFECTIVE"},{"label":"Wrong '
    'item","payload":"r:WRONG_ITEM"},{"label":"Ordered by '
    'mistake","payload":"r:ORDERED_BY_MISTAKE"},{"label":"Other '
    'reason","payload":"r:OTHER"},{"label":"Return for a '
    'refund","payload":"rr:return"},{"label":"Replace it","payload":"rr:replace"},: would you '
    'like your money back, or the same item again?: which item would you like to return or '
    'replace?","buttons":[{"label":" × 1","payload":"i:1"},Done: your return R- is '
    "registered.\\nPickup starts once the return is approved; we'll tell you the pickup "
    'date.\\nPlease note: shipping fees are not refunded. is cancelled.\\nYour refund of ₹ '
    'goes back to your UPI; expect it by \\nRefunds to UPI usually take up to 1 day.\\nYou '
    "paid ₹ by UPI: it will be refunded to the same method.\\nI'll do this right away when you "
    'confirm.","buttons":[{"label":"Yes, go '
    'ahead","payload":"yes"},{"label":"No","payload":"no"}],"links":[]}] · placed  · '
    'shipped\\n• \\nPayment: UPI, paid · total ₹\\nPackage 1 of 1 (): out for delivery\\n  '
    'Carrier: , tracking number \\n  Latest: out for delivery at  delivery station, \\n  '
    'Expected by {"label":"Keep me posted","payload":"n:"links":[{"label":"Track '
    'package","url":"https://"text":"What can I help you with?","buttons":[{"label":"Track '
    'order","payload":"m:track"},{"label":"Cancel","payload":"m:cancel"},{"label":"Return or '
    'replace","payload":"m:rr"},{"label":"Refund '
    'status","payload":"m:refund"},{"label":"Change '
    'delivery","payload":"m:delivery"},{"label":"Talk to '
    'us","payload":"agent"},{"label":"Language · '
    'भाषा","payload":"lang"}],"links":[]}][{"key":"welcome","text":"{"label":"Back to the '
    'bot","payload":"back"}{"label":"Back to this '
    'order","payload":"o:{"label":"Menu","payload":"menu"}],"links":[]}]Someone is available '
    'now and will answer soon.order #[{"key":"","text":"'
).encode()
"""The preset dictionary of the remembered answer's deflate (4 KB window)."""
