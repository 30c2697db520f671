"""The citizen's account: help, privacy, language, status, pause and resume, erasure.

These are reached by commands at any point of the intake and come back to the step the
citizen was on (kept in the draft as `_return`).
"""

from __future__ import annotations

import json

from bot.flows.base import Context, Document, Invalid, Outcome, Reply, Step, advance, goto
from bot.flows.intake import DoneStep, new_draft
from bot.text.labels import STATUS_LABELS
from bot.text.markup import escape, shorten
from bot.text.my_data import summary
from storage.workflow import WITHDRAWABLE

ANSWER_SHOWN = 300
"""Characters of the staff's answer repeated in /status (the full text came as a message)."""


def help_reply(ctx: Context) -> Reply:
    return Reply(
        ctx._(
            "<b>How this works</b>\nAnswer the questions one by one; I keep your draft "
            "as you go. Commands:\n"
            "/start – continue where you were\n"
            "/new – start a new proposal\n"
            "/back – go back one question\n"
            "/pause – pause (your draft is kept)\n"
            "/status – your proposals and their status\n"
            "/withdraw – withdraw a proposal you sent\n"
            "/language – change the language\n"
            "/privacy – what is stored about you, and your rights\n"
            "/my_data – a copy of your data\n"
            "/delete_me – erase your personal data"
        )
    )


def privacy_reply(ctx: Context) -> Reply:
    """The privacy notice (GDPR art. 13): who, why, what, who sees it, how long, rights."""
    policy = ctx.services.data_policy
    controller = (
        escape(policy.controller)
        if policy.controller
        else ctx._("the organisation that runs this bot (not configured yet: ask the staff)")
    )
    return Reply(
        ctx._(
            "<b>Your data and your rights</b>\n"
            "<b>Who is responsible:</b> {controller}.\n"
            "<b>Why:</b> to turn your idea into a proposal, send it to the call it fits, "
            "answer you, and show you similar initiatives. You give it by writing here, and "
            "you can take it back at any time.\n"
            "<b>What:</b> your answers (your idea, the place, the budget), the name and "
            "contact details you choose to give, your messages to the staff, your Telegram "
            "id to answer you, and your language.\n"
            "<b>Who sees it:</b> the staff who handle the proposals. Coaches of local "
            "initiatives read your proposal; they and similar initiatives get your contact "
            "details only if you agree. Nothing is sold or used for advertising.\n"
            "<b>How long:</b> an unfinished draft is deleted after {draft_days} days without "
            "activity; your name, contact details and messages are erased {decided_days} "
            "days after the decision on your proposal, which then stays without them.\n"
            "<b>Your rights:</b> /my_data sends you a copy of your data, /delete_me erases "
            "it. To correct it, object or ask anything else, write to the data controller.\n"
            "<b>Complaints:</b> the Data Protection Authority (Autorité de protection des "
            "données / Gegevensbeschermingsautoriteit), rue de la Presse 35, 1000 Brussels, "
            "contact@apd-gba.be."
        ).format(
            controller=controller,
            draft_days=ctx.t.number(policy.retention.drafts.days),
            decided_days=ctx.t.number(policy.retention.decided.days),
        )
    )


async def my_data_reply(ctx: Context) -> Reply:
    """Everything stored about the citizen, in two files: to read, and as JSON."""
    copy, proposals = await ctx.services.my_data()
    day = copy["exported_at"][:10]
    return Reply(
        ctx._(
            "📦 <b>Your data</b>: everything stored about you, in two files: a summary to "
            "read, and the same data as JSON. /privacy says why it is kept and for how long; "
            "/delete_me erases it."
        ),
        documents=[
            Document(f"my-data-{day}.txt", summary(ctx.t, copy, proposals)),
            Document(f"my-data-{day}.json", json.dumps(copy, ensure_ascii=False, indent=2)),
        ],
    )


async def status_reply(ctx: Context) -> Reply:
    proposals = await ctx.services.my_proposals()
    if not proposals:
        return Reply(ctx._("You have not submitted any proposal yet."))
    lines = [
        ctx.t.ngettext(
            "<b>Your proposal</b>", "<b>Your {count} proposals</b>", len(proposals)
        ).format(count=len(proposals))
    ]
    for proposal in proposals:
        status = ctx._(STATUS_LABELS.get(proposal.status, proposal.status))
        lines.append(
            f"\n<b>{escape(proposal.reference)}</b> · {escape(proposal.title)}\n"
            f"{status} · {ctx.t.date(proposal.submitted_at)}"
        )
        answers = [e for e in proposal.events if e.kind == "answer" and e.text]
        if answers:  # the staff's latest official answer (internal notes are never shown)
            lines.append(
                "💬 "
                + ctx._("The staff's answer ({date}):").format(
                    date=ctx.t.date(answers[-1].created_at)
                )
                + f" <i>{escape(shorten(answers[-1].text or '', ANSWER_SHOWN))}</i>"
            )
    if any(p.status in WITHDRAWABLE for p in proposals):
        lines.append("\n" + ctx._("/withdraw withdraws a proposal you no longer want to make."))
    return Reply("\n".join(lines))


class ReturningStep(Step):
    """A detour from the intake that goes back to the step the citizen left."""

    def next(self, ctx: Context) -> str:
        return str(ctx.draft.pop("_return", None) or "welcome")


class ResumeStep(ReturningStep):
    name = "resume"

    def prompt(self, ctx: Context) -> Reply:
        title = ctx.draft.get("title")
        text = (
            ctx._("You have a proposal in progress: “{title}”.").format(title=escape(title))
            if title
            else ctx._("You have a proposal in progress.")
        )
        return Reply(
            text,
            [
                [ctx.button(ctx._("▶ Continue where I was"), "continue")],
                [ctx.button(ctx._("🆕 Start a new proposal"), "new")],
            ],
        )

    async def on_text(self, ctx: Context, text: str) -> Outcome:
        raise Invalid(ctx._("Please choose with the buttons below."))

    async def on_button(self, ctx: Context, value: str) -> Outcome:
        if value == "continue":
            return advance()
        if value == "new":
            ctx.draft.clear()
            ctx.draft.update(new_draft())
            return goto("title")
        raise Invalid(ctx._("Please choose with the buttons below."))


class ConfirmNewStep(ResumeStep):
    name = "confirm_new"

    def prompt(self, ctx: Context) -> Reply:
        return Reply(
            ctx._("Start a new proposal? The draft “{title}” will be discarded.").format(
                title=escape(ctx.draft.get("title", ""))
            ),
            [
                [ctx.button(ctx._("🆕 Yes, start a new one"), "new")],
                [ctx.button(ctx._("▶ No, continue my draft"), "continue")],
            ],
        )


class PausedStep(ReturningStep):
    name = "paused"

    def prompt(self, ctx: Context) -> Reply:
        return Reply(
            ctx._(
                "⏸ Paused. Your draft is kept: send /start to continue where you were, or "
                "/new to start a new proposal."
            )
        )

    async def on_text(self, ctx: Context, text: str) -> Outcome:
        raise Invalid(ctx._("Your draft is on hold."))


class EraseConfirmStep(ReturningStep):
    """Says what erasure deletes and what it keeps, and warns about proposals still under
    review (the runner lists them in the draft as `_open`)."""

    name = "erase_confirm"

    def prompt(self, ctx: Context) -> Reply:
        text = ctx._(
            "<b>Erase your personal data?</b> Your name, contact details, location, Telegram "
            "id, your draft and the messages you wrote to the staff will be deleted. Your "
            "submitted proposals stay, without anything that points to you (their title, "
            "description, commune and budget): the calls they were sent to are decided on "
            "them. This cannot be undone."
        )
        still_open = ctx.draft.get("_open", [])
        if still_open:
            text += "\n\n" + ctx.t.ngettext(
                "⚠️ Your proposal {references} is still being reviewed: once your data is "
                "erased, the staff can no longer answer you or ask you about it. To stop it "
                "instead, /withdraw it.",
                "⚠️ Your proposals {references} are still being reviewed: once your data is "
                "erased, the staff can no longer answer you or ask you about them. To stop "
                "them instead, /withdraw them.",
                len(still_open),
            ).format(references=", ".join(still_open))
        return Reply(
            text,
            [
                [ctx.button(ctx._("🗑 Yes, erase my data"), "erase")],
                [ctx.button(ctx._("No, keep everything"), "keep")],
            ],
        )

    async def on_text(self, ctx: Context, text: str) -> Outcome:
        raise Invalid(ctx._("Please answer with the buttons below."))

    async def on_button(self, ctx: Context, value: str) -> Outcome:
        if value == "keep":
            ctx.draft.pop("_open", None)
            return advance(notice=ctx._("Nothing was erased."))
        if value != "erase":
            raise Invalid(ctx._("Please answer with the buttons below."))
        count = await ctx.services.erase_me()
        return goto(
            "erased",
            notice=ctx.t.ngettext(
                "Done: your personal data is erased. Your proposal stays, anonymised: its "
                "title, description, commune and budget, without your name, contact details "
                "or messages.",
                "Done: your personal data is erased. Your {count} proposals stay, anonymised: "
                "their title, description, commune and budget, without your name, contact "
                "details or messages.",
                count,
            ).format(count=count)
            if count
            else ctx._("Done: your personal data is erased."),
        )


class IdleStep(DoneStep):
    """Nothing in progress after a detour from a finished proposal: like `done` (a message
    still answers the staff's question) without repeating the thank-you."""

    name = "idle"

    def prompt(self, ctx: Context) -> Reply:
        return Reply(ctx._("/new starts a new proposal, /status shows yours."))

    def next(self, ctx: Context) -> str:
        return "idle"


class WithdrawalStep(ReturningStep):
    def next(self, ctx: Context) -> str:
        target = super().next(ctx)
        return "idle" if target == "done" else target


class WithdrawStep(WithdrawalStep):
    """Which proposal to withdraw (the runner lists them in the draft as `_withdrawable`)."""

    name = "withdraw"

    def prompt(self, ctx: Context) -> Reply:
        withdrawable = ctx.draft.get("_withdrawable", [])
        choices = [[ctx.button("↩ " + reference, reference)] for reference, _title in withdrawable]
        listed = "".join(
            f"\n<b>{escape(reference)}</b> · {escape(shorten(title, 80))}"
            for reference, title in withdrawable
        )
        return Reply(
            ctx._("Which proposal do you want to withdraw?") + "\n" + listed,
            [*choices, [ctx.button(ctx._("Keep them all"), "keep")]],
        )

    async def on_text(self, ctx: Context, text: str) -> Outcome:
        raise Invalid(ctx._("Please choose with the buttons below."))

    async def on_button(self, ctx: Context, value: str) -> Outcome:
        known = {reference for reference, _title in ctx.draft.get("_withdrawable", [])}
        if value == "keep":
            ctx.draft.pop("_withdrawable", None)
            return advance(notice=ctx._("Nothing was withdrawn."))
        if value not in known:
            raise Invalid(ctx._("Please choose with the buttons below."))
        ctx.draft["_withdraw"] = value
        return goto("withdraw_confirm")


class WithdrawConfirmStep(WithdrawalStep):
    name = "withdraw_confirm"

    def prompt(self, ctx: Context) -> Reply:
        reference = ctx.draft.get("_withdraw", "")
        titles = dict(map(tuple, ctx.draft.get("_withdrawable", [])))
        return Reply(
            ctx._(
                "<b>Withdraw “{title}” ({reference})?</b> The staff will stop handling it. "
                "This cannot be undone, but you can always send a new proposal."
            ).format(title=escape(titles.get(reference, "")), reference=escape(reference)),
            [
                [ctx.button(ctx._("↩ Yes, withdraw it"), "withdraw")],
                [ctx.button(ctx._("No, keep it"), "keep")],
            ],
        )

    async def on_text(self, ctx: Context, text: str) -> Outcome:
        raise Invalid(ctx._("Please answer with the buttons below."))

    async def on_button(self, ctx: Context, value: str) -> Outcome:
        if value not in ("withdraw", "keep"):
            raise Invalid(ctx._("Please answer with the buttons below."))
        reference = ctx.draft.pop("_withdraw", "")
        ctx.draft.pop("_withdrawable", None)
        if value == "keep":
            return advance(notice=ctx._("Nothing was withdrawn."))
        if not await ctx.services.withdraw(reference):
            return advance(notice=ctx._("This proposal can no longer be withdrawn."))
        return advance(
            notice=ctx._("Your proposal {reference} is withdrawn.").format(
                reference=escape(reference)
            )
        )


class ErasedStep(Step):
    """Shown once after erasure; the conversation row is gone, so nothing follows."""

    name = "erased"

    def prompt(self, ctx: Context) -> Reply:
        return Reply(ctx._("Send /start if you ever want to make a new proposal."))

    def next(self, ctx: Context) -> str:
        return "erased"


ACCOUNT_STEPS: dict[str, Step] = {
    step.name: step
    for step in (
        ResumeStep(),
        ConfirmNewStep(),
        PausedStep(),
        EraseConfirmStep(),
        WithdrawStep(),
        WithdrawConfirmStep(),
        IdleStep(),
        ErasedStep(),
    )
}
