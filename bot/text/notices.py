"""Messages the bot sends on its own initiative (through the outbox), in the reader's language."""

from __future__ import annotations

from bot.text.i18n import Translator
from bot.text.labels import STATUS_LABELS
from bot.text.markup import escape


def review_message(
    language: str, reference: str, title: str, status: str, answer: str | None
) -> str:
    """What a citizen reads when the staff change their proposal's status or answer it."""
    t = Translator(language)
    lines = [
        t.gettext("📬 <b>News about your proposal {reference}</b>").format(
            reference=escape(reference)
        ),
        f"<i>{escape(title)}</i>",
        "",
        t.gettext("Status: {status}").format(status=t.gettext(STATUS_LABELS.get(status, status))),
    ]
    if answer:
        lines += ["", t.gettext("<b>The staff's answer:</b>"), escape(answer)]
    if status == "needs_info":
        lines += [
            "",
            t.gettext("Please answer with a message here: it will be added to your proposal."),
        ]
    return "\n".join(lines)
