"""The terminal adapter: numbered buttons, link lines, numbers tap the last buttons."""

from __future__ import annotations

from channels.terminal import TerminalAdapter
from conversation.types import Button, Channel, Identity, LinkButton, Reply, TurnResult

ANSWER = TurnResult(
    replies=(
        Reply(
            "menu", "How can I help?", (Button("Track order", "track"), Button("Cancel", "cancel"))
        ),
        Reply(
            "more",
            "Or:",
            (Button("Talk to us", "agent"),),
            (LinkButton("Return policy", "https://shop.example/returns"),),
        ),
    )
)


def test_buttons_are_numbered_across_the_answer_and_links_are_shown() -> None:
    adapter = TerminalAdapter("t1")
    assert adapter.render(ANSWER) == (
        "How can I help?\n[1] Track order\n[2] Cancel\n\n"
        "Or:\n[3] Talk to us\nReturn policy: https://shop.example/returns"
    )


def test_a_number_taps_the_last_buttons_and_other_input_is_text() -> None:
    adapter = TerminalAdapter("t1", identity=Identity(phone="+919800000001"), locale="hi")
    adapter.render(ANSWER)
    tapped = adapter.parse("3\n")
    assert (tapped.payload, tapped.text) == ("agent", "")
    assert tapped.channel is Channel.TERMINAL and tapped.conversation == "terminal:t1"
    assert tapped.identity == Identity(phone="+919800000001") and tapped.locale == "hi"
    for line in ("4", "0", "²", "1001", "hello", "", "१"):
        inbound = adapter.parse(line)
        assert inbound.payload is None and inbound.text == line


def test_every_line_gets_a_fresh_message_id() -> None:
    adapter = TerminalAdapter("t1")
    assert adapter.parse("hi").message_id != adapter.parse("hi").message_id


def test_an_answer_without_buttons_forgets_the_old_ones() -> None:
    adapter = TerminalAdapter("t1")
    adapter.render(ANSWER)
    adapter.render(TurnResult(replies=(Reply("ok", "Done."),)))
    assert adapter.parse("1").text == "1"
