"""The one escaping boundary for untrusted text going to Slack (handlers.blocks.elements.escape)."""

import pytest

from handlers.blocks.elements import escape


@pytest.mark.parametrize(
    ("untrusted", "shown"),
    [
        ("<!channel> *pay* <https://evil.example|Click here>",
         "&lt;!channel&gt; ∗pay∗ &lt;https://evil.example|Click here&gt;"),
        ("<!here> <!subteam^S123|@finance> <@U0BOSS>", "&lt;!here&gt; &lt;!subteam^S123|@finance&gt; &lt;@U0BOSS&gt;"),
        ("_urgent_ ~void~ `code` > quote", "ˍurgentˍ ∼void∼ ˋcodeˋ &gt; quote"),
        ("Smith & Sons", "Smith &amp; Sons"),
        ("&lt;!channel&gt;", "&amp;lt;!channel&amp;gt;"),  # already-looking entities are not trusted either
    ],
)  # fmt: skip
def test_mentions_links_and_formatting_are_shown_as_typed(untrusted, shown):
    assert escape(untrusted) == shown


@pytest.mark.parametrize("plain", ["Acme Corp", "INV-2026-0001", "ap_team@acme.example", "snake_case_ref", "€1,200.50"])
def test_ordinary_names_numbers_and_addresses_are_unchanged(plain):
    assert escape(plain) == plain


def test_a_domain_sentence_keeps_its_user_mentions_and_nothing_else():
    sentence = "Already approved by <@U0BOB> at 14:03 UTC for INV-<!here> <https://evil.example|x>."
    assert escape(sentence, keep_user_mentions=True) == (
        "Already approved by <@U0BOB> at 14:03 UTC for INV-&lt;!here&gt; &lt;https://evil.example|x&gt;."
    )
    assert escape("<@U0BOB>") == "&lt;@U0BOB&gt;"
