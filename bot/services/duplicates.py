"""Duplicates as use cases (issue 14 §6): staff mark a proposal as a duplicate of another
one (the back-office's proposal page), and the citizen of the duplicate asks to join the
original (a button in their chat).

The citizen of the duplicate is told through the outbox, in the language of their
proposal (as for a review), with the original's reference and title: nothing about the
other citizen. Staff put the two in touch themselves; the bot passes no personal data
either way. The button carries both proposals' ids (``dupjoin:<duplicate>:<original>``),
so that a press after the proposal was unmarked, or marked as a duplicate of another one,
finds nothing to join; a press recorded once is not recorded again (storage.duplicates).
The caller owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from bot.text.i18n import Translator
from bot.text.markup import escape
from storage.duplicates import mark_duplicate, request_join
from storage.models import Proposal
from storage.outbox import enqueue
from storage.workflow import citizen_chat

JOIN_PREFIX = "dupjoin:"


def join_data(duplicate_id: int, original_id: int) -> str:
    """The callback data of the "Ask to join this proposal" button."""
    return f"{JOIN_PREFIX}{duplicate_id}:{original_id}"


def is_join(data: str) -> bool:
    return data.startswith(JOIN_PREFIX)


def _parse_join(data: str) -> tuple[int, int] | None:
    duplicate, sep, original = data.removeprefix(JOIN_PREFIX).partition(":")
    if not sep or not (duplicate.isdigit() and original.isdigit()):
        return None
    if len(duplicate) > 12 or len(original) > 12:
        return None
    return int(duplicate), int(original)


def duplicate_key(event_id: int) -> str:
    """The outbox key of the message that tells the citizen their proposal is a duplicate."""
    return f"duplicate:{event_id}"


def duplicate_message(
    language: str, duplicate: Proposal, original: Proposal
) -> tuple[str, list[list[dict[str, str]]]]:
    """What the citizen of the duplicate reads, and its button (outbox payload form)."""
    t = Translator(language)
    text = "\n".join(
        [
            t.gettext("🔁 <b>About your proposal {reference}</b>").format(
                reference=escape(duplicate.reference)
            ),
            f"<i>{escape(duplicate.title)}</i>",
            "",
            t.gettext(
                "The staff found that it describes the same idea as another proposal, "
                "which they handle together with yours:"
            ),
            f"<b>{escape(original.reference)}</b> · <i>{escape(original.title)}</i>",
            "",
            t.gettext(
                "If you would like to work on it with the people behind it, ask to join "
                "it: the staff will put you in touch. Nothing about you is passed on "
                "without your agreement."
            ),
        ]
    )
    button = {
        "text": t.gettext("🤝 Ask to join this proposal"),
        "callback_data": join_data(duplicate.id, original.id),
    }
    return text, [[button]]


async def mark_as_duplicate(
    session: AsyncSession, proposal: Proposal, original_reference: str, *, actor: str
) -> Proposal:
    """Mark `proposal` as a duplicate of the proposal with `original_reference` and tell
    its citizen (if they can still be reached); the original.

    Raises `storage.duplicates.DuplicateError` when it cannot be marked (nothing written).
    """
    original, event = await mark_duplicate(session, proposal, original_reference, actor=actor)
    chat_id = await citizen_chat(session, proposal)
    if chat_id is not None:
        text, buttons = duplicate_message(proposal.language, proposal, original)
        await enqueue(
            session,
            kind="telegram",
            chat_id=chat_id,
            payload={"text": text, "buttons": buttons},
            dedupe_key=duplicate_key(event.id),
        )
    return original


@dataclass(frozen=True)
class JoinAnswer:
    """What the citizen sees after pressing "Ask to join this proposal"."""

    toast: str
    text: str | None = None
    """A message in the chat, or None."""


async def ask_to_join(
    session: AsyncSession, telegram_user_id: int, data: str, language: str
) -> JoinAnswer:
    """The citizen pressed "Ask to join this proposal" (`data`); the answer in `language`."""
    t = Translator(language)
    ids = _parse_join(data)
    request = await request_join(session, telegram_user_id, *ids) if ids else None
    if request is None or request.outcome == "unknown":
        return JoinAnswer(t.gettext("This button is from an earlier conversation."))
    if request.outcome == "not_duplicate":
        return JoinAnswer(
            t.gettext("Your proposal is no longer marked as a duplicate: there is nothing to join.")
        )
    if request.outcome == "already":
        return JoinAnswer(t.gettext("You have already asked: the staff will put you in touch."))
    assert request.original is not None
    return JoinAnswer(
        t.gettext("Request sent."),
        t.gettext(
            "✅ Thank you! The staff will put you in touch with the people behind the "
            "proposal {reference}."
        ).format(reference=escape(request.original.reference)),
    )
