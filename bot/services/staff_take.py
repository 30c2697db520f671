"""The staff Telegram group's "take it" button (`STAFF_CHAT_ID`): a press by a staff member
who linked their Telegram account (back-office → Your sessions → Telegram) assigns the
proposal to their staff account, exactly as "Take it" on the proposal's page does
(`bot.services.assignment`, which also has the group's message edited through the outbox
to say who has it, without the button).

The message itself (`bot.text.staff_summary`) is written to the outbox when the proposal is
submitted (`bot.services.announcements`). The press is one transaction, and the first taker
wins: a later press hears who has the proposal. A press from a Telegram account linked to
no staff account changes nothing and says how to link it.

Linking: the back-office shows a one-time deep link (`staff_link_url`); opening it sends the
bot `/start staff-<token>`, which `link_telegram` answers, whatever the private conversation
is doing (the runner leaves that conversation as it was). The answer is in the staff
member's back-office language, in the staff register.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.announcements import Announcer
from bot.services.assignment import change_assignment
from bot.text.i18n import Translator
from bot.text.markup import escape
from bot.text.staff_summary import TAKE_PREFIX
from storage.models import Proposal
from storage.staff import LINK_HOURS, link_staff, staff_by_telegram

LINK_PREFIX = "staff-"
"""What starts the deep link's start parameter (coach invitations use "coach-")."""


def staff_link_url(bot_username: str | None, token: str) -> str:
    """The deep link that opens the bot with `/start staff-<token>`."""
    return f"https://t.me/{bot_username or '<bot username>'}?start={LINK_PREFIX}{token}"


def is_staff_link(command: str, argument: str) -> bool:
    return command == "start" and argument.startswith(LINK_PREFIX)


@dataclass(frozen=True)
class TakeResult:
    toast: str


async def take(
    session: AsyncSession, data: str, telegram_user_id: int, *, announcer: Announcer
) -> TakeResult:
    """A "take it" press: assign the proposal to the presser's staff account unless
    someone has it. The toast is in the presser's back-office language (the group's
    language for someone not linked)."""
    staff = await staff_by_telegram(session, telegram_user_id)
    t = Translator(staff.language if staff is not None else announcer.staff_language)
    if staff is None:
        return TakeResult(
            t.gettext(
                "First link your Telegram account to your staff account: back-office → “Your "
                "sessions” → Telegram."
            )
        )
    reference = data.removeprefix(TAKE_PREFIX)
    proposal = (
        await session.execute(select(Proposal).where(Proposal.reference == reference))
    ).scalar_one_or_none()
    if proposal is None:
        return TakeResult(t.gettext("This proposal no longer exists."))
    outcome = await change_assignment(
        session, proposal, staff, actor=staff.email, expected=None, announcer=announcer
    )
    if outcome.done:
        return TakeResult(t.gettext("It's yours. Thank you!"))
    if outcome.assignee is not None and outcome.assignee.id == staff.id:
        return TakeResult(t.gettext("You already have it."))
    if outcome.assignee is not None:
        return TakeResult(t.gettext("Already taken by {name}.").format(name=outcome.assignee.email))
    return TakeResult(t.gettext("This proposal no longer exists."))  # pragma: no cover


async def link_telegram(
    session: AsyncSession, argument: str, telegram_user_id: int, language: str
) -> str:
    """`/start staff-<token>`: link this Telegram account to the token's staff account; the
    answer (in `language` when the token names nobody)."""
    token = argument.removeprefix(LINK_PREFIX).strip()
    outcome = await link_staff(session, token, telegram_user_id)
    staff = outcome.staff
    t = Translator(staff.language if staff is not None else language)
    if outcome.status == "linked" and staff is not None:
        text = "✅ " + escape(
            t.gettext(
                "Your Telegram account is now linked to the staff account {email}. In the staff "
                "group, “✋ I'll take it” now assigns the proposal to you, and I will write to "
                "you here when someone gives you a proposal."
            ).format(email=staff.email)
        )
    else:
        messages = {
            "expired": t.gettext(
                "This link has expired (links are valid for {hours} hours). Create a new one "
                "in the back-office, on the “Your sessions” page."
            ),
            "used": t.gettext(
                "This link has already been used. Create a new one in the back-office, on the "
                "“Your sessions” page."
            ),
            "other_staff": t.gettext(
                "Your Telegram account is already linked to another staff account ({email}). "
                "Unlink it first in the back-office, on that account's “Your sessions” page."
            ),
        }
        message = messages.get(
            outcome.status,
            t.gettext(
                "I do not know this link. Check that you opened the whole link, or create a new "
                "one in the back-office, on the “Your sessions” page."
            ),
        )
        email = staff.email if staff is not None else ""
        text = "⚠️ " + escape(message.format(hours=LINK_HOURS, email=email))
    hint = t.gettext("To propose an idea for a neighbourhood as a citizen, send /start.")
    return f"{text}\n\n{hint}"
