"""Runs one update through the conversation whose state lives in the database.

For each update: load the chat's row under its lock, run the step (or the command),
save the row, and only then hand the replies to the Telegram side to send. A stale button
(its version is not the draft's) or an input the step does not take gets a short hint and
the current prompt again; the draft is never lost.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from dataclasses import dataclass, field
from typing import Any

from bot.flows.account import (
    ACCOUNT_STEPS,
    help_reply,
    my_data_reply,
    privacy_reply,
    status_reply,
)
from bot.flows.base import (
    BACK,
    HALF_BUTTON_WIDTH,
    Button,
    Context,
    Document,
    Input,
    InputKind,
    Invalid,
    Outcome,
    Reply,
    Step,
    decode_callback,
    visible_length,
)
from bot.flows.coach import CoachFlow
from bot.flows.intake import STEPS, new_draft
from bot.services.announcements import Announcer
from bot.services.chat import ChatServices
from bot.services.coaching import CoachServices
from bot.services.duplicates import ask_to_join, is_join
from bot.services.matcher import Matcher
from bot.services.retention import NO_POLICY, DataPolicy
from bot.services.staff_take import TakeResult, is_staff_link, link_telegram, take
from bot.text.i18n import Translator, language_from_telegram
from matching.themes import prepare as prepare_themes
from storage.conversations import ConversationStore
from storage.inbox import UpdateKey, applied_result, record_result
from storage.models import Conversation

log = logging.getLogger(__name__)

OVERLAYS = {
    "language",
    "resume",
    "confirm_new",
    "paused",
    "erase_confirm",
    "withdraw",
    "withdraw_confirm",
}
FINISHED = {"done", "erased", "idle"}
INFORMATION = {"help", "privacy", "status", "my_data", "coach"}
"""Commands that answer without changing where the citizen is."""
BACK_WORDS = frozenset(
    {"back", "go back", "retour", "revenir", "précédent", "terug", "vorige", "ga terug"}
)


def _log_failed_preparation(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("could not load the themes' vectors", exc_info=task.exception())


def means_back(text: str) -> bool:
    """A message that only says "back" (in one of the three languages) asks for /back."""
    return text.strip().strip("◀←<.!").strip().casefold() in BACK_WORDS


@dataclass(frozen=True)
class Sender:
    chat_id: int
    user_id: int
    language_code: str | None = None


@dataclass
class Result:
    """What the Telegram side does once the new state is committed."""

    replies: list[Reply] = field(default_factory=list)
    edit: Reply | None = None
    """New content for the message whose button was pressed (toggles)."""
    close_pressed: bool = False
    """Remove the buttons of the message whose button was pressed (the question is answered)."""
    toast: str | None = None
    """Short text for the answer to a button press."""
    coach_commands: str | None = None
    """Show the coach's command list (with /coach) in this chat, in this language."""

    def to_payload(self) -> dict[str, Any]:
        """As JSON, kept with the update until it is sent."""
        return {
            "replies": [_reply_payload(reply) for reply in self.replies],
            "edit": None if self.edit is None else _reply_payload(self.edit),
            "close_pressed": self.close_pressed,
            "toast": self.toast,
            "coach_commands": self.coach_commands,
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Result:
        edit = payload.get("edit")
        return cls(
            replies=[_reply_from_payload(reply) for reply in payload.get("replies", [])],
            edit=None if edit is None else _reply_from_payload(edit),
            close_pressed=bool(payload.get("close_pressed")),
            toast=payload.get("toast"),
            coach_commands=payload.get("coach_commands"),
        )


def _reply_payload(reply: Reply) -> dict[str, Any]:
    return {
        "text": reply.text,
        "buttons": [[[b.label, b.data] for b in row] for row in reply.buttons],
        "replace": reply.replace,
        "documents": [[d.filename, d.content] for d in reply.documents],
    }


def _reply_from_payload(payload: dict[str, Any]) -> Reply:
    return Reply(
        payload["text"],
        [[Button(label, data) for label, data in row] for row in payload["buttons"]],
        replace=bool(payload["replace"]),
        documents=[Document(name, content) for name, content in payload.get("documents", [])],
    )


class Runner:
    def __init__(
        self,
        store: ConversationStore,
        matcher: Matcher,
        *,
        default_language: str,
        reference_prefix: str,
        announcer: Announcer | None = None,
        test_proposals: bool = False,
        data_policy: DataPolicy = NO_POLICY,
    ) -> None:
        """`test_proposals`: everything submitted is marked as a test (the preview bot).
        `data_policy`: who is responsible for the data and how long it is kept (/privacy)."""
        self.store = store
        self.matcher = matcher
        self.default_language = default_language
        self.reference_prefix = reference_prefix
        self.announcer = announcer or Announcer(staff_language=default_language)
        self.test_proposals = test_proposals
        self.data_policy = data_policy
        self.steps: dict[str, Step] = {**STEPS, **ACCOUNT_STEPS}
        # Coach accounts are real: the preview bot (test proposals) leaves them alone.
        self.coach = None if test_proposals else CoachFlow(default_language)
        self._preparing: asyncio.Task[None] | None = None

    async def warm_up(self) -> None:
        """Build the similarity index now, so that the first citizen does not wait for it,
        and load the sentence encoder and the themes' vectors in a worker thread (a few
        seconds; a themes question asked meanwhile waits for them in its own thread)."""
        self._preparing = asyncio.create_task(asyncio.to_thread(prepare_themes))
        self._preparing.add_done_callback(_log_failed_preparation)
        async with self.store.transaction() as session:
            await self.matcher.refresh(session)

    async def handle(self, sender: Sender, inp: Input, update: UpdateKey | None = None) -> Result:
        """Apply one input, and keep its answer with the update in the same transaction. An
        update already applied (claimed again after its process died) is not applied twice:
        its kept answer is returned, to be sent again."""
        async with self.store.open(sender.chat_id) as (session, conversation):
            if update is not None:
                kept = await applied_result(session, update)
                if kept is not None:
                    return Result.from_payload(kept)
            language = (
                conversation.language
                or language_from_telegram(sender.language_code)
                or self.default_language
            )
            joining = inp.kind is InputKind.BUTTON and is_join(inp.text)
            staff_link = (
                self.coach is not None  # not in the preview bot, like coach links
                and inp.kind is InputKind.COMMAND
                and is_staff_link(inp.text, inp.argument)
            )
            coach = None
            if self.coach is not None and not joining and not staff_link:
                coach = await self.coach.handle(
                    CoachServices(session),
                    user_id=sender.user_id,
                    chat_id=sender.chat_id,
                    language=language,
                    inp=inp,
                )
            if joining:
                # "Ask to join" under a duplicate's notice works whatever step the citizen
                # is at, and leaves the conversation as it is.
                joined = await ask_to_join(session, sender.user_id, inp.text, language)
                replies = [Reply(joined.text)] if joined.text else []
                result = Result(replies=replies, close_pressed=True, toast=joined.toast)
            elif staff_link:  # a staff member links Telegram: the conversation is left as it is
                text = await link_telegram(session, inp.argument, sender.user_id, language)
                result = Result(replies=[Reply(text)])
            elif coach is not None:  # a coach matter: the citizen conversation is left as it is
                result = Result(
                    replies=coach.replies,
                    edit=coach.edit,
                    close_pressed=coach.close_pressed,
                    toast=coach.toast,
                    coach_commands=coach.coach_commands,
                )
            else:
                services = ChatServices(
                    session,
                    sender.chat_id,
                    sender.user_id,
                    self.reference_prefix,
                    self.matcher,
                    self.announcer,
                    test_proposals=self.test_proposals,
                    data_policy=self.data_policy,
                )
                result = await self._run(conversation, sender, inp, services)
            if update is not None:
                await record_result(session, update, result.to_payload())
        return result

    async def take_for_staff(
        self, chat_id: int, data: str, telegram_user_id: int
    ) -> TakeResult | None:
        """A "take it" press in the staff group; None when the chat is not that group."""
        announcer = self.announcer
        if announcer.staff_chat_id is None or chat_id != announcer.staff_chat_id:
            return None
        async with self.store.transaction() as session:
            return await take(session, data, telegram_user_id, announcer=announcer)

    async def _run(
        self, conversation: Conversation, sender: Sender, inp: Input, services: ChatServices
    ) -> Result:
        telegram_language = language_from_telegram(sender.language_code)
        known_language = conversation.language or telegram_language
        ctx = Context(
            draft=copy.deepcopy(conversation.draft),
            t=Translator(known_language or self.default_language),
            version=conversation.version,
            services=services,
            step=conversation.step,
        )
        result = Result()
        if ctx.step not in self.steps and ctx.draft.get("title"):
            # a step this version no longer has: keep the draft and walk it again
            ctx.draft["_return"] = "title"
            ctx.step = "resume"
        first_contact = ctx.step not in self.steps
        if first_contact:
            ctx.draft = new_draft()
            ctx.step = "welcome" if known_language else "language"
            ctx.version += 1
            if inp.kind is InputKind.BUTTON:
                result.toast = ctx._("This button is from an earlier conversation.")

        if not first_contact or inp.kind is InputKind.COMMAND:
            await self._dispatch(ctx, inp, result, first_contact=first_contact)

        if services.erased:
            return result
        conversation.step = ctx.step
        conversation.draft = ctx.draft
        conversation.version = ctx.version
        if known_language or ctx.step != "language":  # not stored while it is being asked
            conversation.language = ctx.t.language
        if not result.replies and result.edit is None:
            result.replies.append(self._prompt(ctx))
        return result

    async def _dispatch(
        self, ctx: Context, inp: Input, result: Result, *, first_contact: bool = False
    ) -> None:
        step = self.steps[ctx.step]
        if inp.kind is InputKind.COMMAND:
            await self._command(ctx, inp, result, first_contact=first_contact)
            return
        if inp.kind is InputKind.UNSUPPORTED:
            result.replies.append(
                self._prompt(ctx, ctx._("I can only read text messages and buttons here."))
            )
            return
        if inp.kind is InputKind.EDITED:
            result.replies.append(
                self._prompt(
                    ctx,
                    ctx._(
                        "I do not read edited messages: please send the correction as a new "
                        "message."
                    ),
                )
            )
            return
        button_value = ""
        if inp.kind is InputKind.BUTTON:
            callback = decode_callback(inp.text)
            if callback is None or callback.version != ctx.version or callback.step != ctx.step:
                result.toast = ctx._("This button is from an earlier message.")
                result.replies.append(
                    self._prompt(
                        ctx, ctx._("That button is from an earlier message. Here is where we are:")
                    )
                )
                return
            button_value = callback.value
            if button_value == BACK:
                result.close_pressed = True
                await self._back(ctx, result)
                return
        elif inp.kind is InputKind.TEXT and step.progress is not None and means_back(inp.text):
            await self._back(ctx, result)
            return
        try:
            if inp.kind is InputKind.BUTTON:
                outcome = await step.on_button(ctx, button_value)
            elif inp.kind is InputKind.LOCATION:
                assert inp.latitude is not None and inp.longitude is not None
                outcome = await step.on_location(ctx, inp.latitude, inp.longitude)
            else:
                outcome = await step.on_text(ctx, inp.text)
        except Invalid as invalid:
            if inp.kind is InputKind.BUTTON:
                result.toast = invalid.message
            else:
                result.replies.append(self._prompt(ctx, invalid.message))
            return
        await self._apply(ctx, step, outcome, result, pressed=inp.kind is InputKind.BUTTON)

    async def _apply(
        self, ctx: Context, step: Step, outcome: Outcome, result: Result, *, pressed: bool
    ) -> None:
        if ctx.services.erased:
            result.close_pressed = pressed
            result.replies.append(
                Reply((outcome.notice or "") + "\n\n" + self.steps["erased"].prompt(ctx).text)
            )
            return
        ctx.version += 1
        if outcome.stay:
            result.edit = self._prompt(ctx) if pressed else None
            if not pressed:
                result.replies.append(self._prompt(ctx))
            return
        target = outcome.goto or step.next(ctx)
        target = self._after_edit(ctx, step, target)
        if step.progress is not None and target != step.name:
            history: list[str] = ctx.draft.setdefault("_history", [])
            back_to = step.back_to or step.name
            if not history or history[-1] != back_to:
                history.append(back_to)
        skipped = await self._enter(ctx, target)
        result.close_pressed = pressed
        notices = [n for n in (outcome.notice, *skipped) if n]
        result.replies.append(self._prompt(ctx, "\n".join(notices)))

    async def _enter(self, ctx: Context, target: str) -> list[str]:
        """Make `target` the current step, passing over those that skip themselves; returns
        what the steps passed over say about it."""
        notices: list[str] = []
        while True:
            ctx.step = target
            step = self.steps[target]
            await step.enter(ctx)
            if not step.skip(ctx):
                return notices
            notice = step.skip_notice(ctx)
            if notice:
                notices.append(notice)
            target = self._after_edit(ctx, step, step.next(ctx))

    async def _back(self, ctx: Context, result: Result) -> None:
        """/back, the Back button or "back" typed: the previous question again."""
        history: list[str] = ctx.draft.get("_history", [])
        if self.steps[ctx.step].progress is not None and history:
            ctx.version += 1
            skipped = await self._enter(ctx, history.pop())
            result.replies.append(self._prompt(ctx, "\n".join(skipped)))
        else:
            result.replies.append(
                self._prompt(ctx, ctx._("There is no earlier question to go back to."))
            )

    def _after_edit(self, ctx: Context, source: Step, target: str) -> str:
        """While editing an answer from the review (or from the calls, when none fits),
        leaving the edited question returns there (`_editing` names the step; `True`, in
        drafts saved before it could name one, is the review)."""
        target_step = self.steps[target]
        editing = ctx.draft.get("_editing")
        back_to = "review" if editing is True else str(editing or "")
        if (
            back_to in self.steps
            and source.name != back_to
            and source.progress is not None
            and target_step.progress is not None
            and target_step.progress != source.progress
        ):
            ctx.draft.pop("_editing")
            return back_to
        return target

    async def _command(
        self, ctx: Context, inp: Input, result: Result, *, first_contact: bool = False
    ) -> None:
        """`first_contact`: the chat has no conversation (new, or erased its data)."""
        name = inp.text
        step = ctx.step
        in_progress = self.steps[step].progress is not None
        if name == "start":
            if step in FINISHED:
                self._restart(ctx, "welcome")
            elif step == "paused":
                ctx.version += 1
                await self._enter(ctx, ctx.draft.pop("_return", "welcome"))
            elif in_progress or step in OVERLAYS - {"language"}:
                self._overlay(ctx, "resume")
        elif name == "new":
            if ctx.draft.get("title") and step not in FINISHED:
                self._overlay(ctx, "confirm_new")
            else:
                self._restart(ctx, "title")
        elif name == "back":
            await self._back(ctx, result)
            return
        elif name in ("pause", "cancel"):
            if not in_progress:
                result.replies.append(self._prompt(ctx, ctx._("There is nothing to pause here.")))
                return
            self._overlay(ctx, "paused")
            if name == "cancel":  # most people read it as "discard": say what it does
                result.replies.append(
                    self._prompt(
                        ctx,
                        ctx._(
                            "/cancel does not delete anything: it pauses, like /pause. To "
                            "discard this draft, send /new."
                        ),
                    )
                )
                return
        elif name == "language":
            self._overlay(ctx, "language")
        elif name == "delete_me":
            self._overlay(ctx, "erase_confirm")
            # Proposals still under review: the confirmation warns that staff will no
            # longer be able to answer them.
            ctx.draft["_open"] = [p.reference for p in await ctx.services.withdrawable()]
        elif name == "withdraw":
            withdrawable = await ctx.services.withdrawable()
            if not withdrawable:
                result.replies.append(
                    self._prompt(ctx, ctx._("You have no proposal that can still be withdrawn."))
                )
                return
            self._overlay(ctx, "withdraw")
            ctx.draft["_withdrawable"] = [[p.reference, p.title] for p in withdrawable]
        elif name in INFORMATION:
            # /coach from someone who is not a coach: the normal help
            info = {"help": help_reply, "coach": help_reply, "privacy": privacy_reply}.get(name)
            if info is not None:
                result.replies.append(info(ctx))
            else:
                result.replies.append(
                    await (my_data_reply if name == "my_data" else status_reply)(ctx)
                )
            # Where the citizen is, again; not the welcome after /status from someone who
            # erased their data (the language picker still follows when no language is known)
            if step not in FINISHED and not (first_contact and step == "welcome"):
                result.replies.append(self._prompt(ctx))
            return
        else:
            result.replies.append(
                self._prompt(
                    ctx,
                    ctx._("I do not know the command /{command}. /help lists the commands.").format(
                        command=name[:32]
                    ),
                )
            )
            return
        result.replies.append(self._prompt(ctx))

    def _overlay(self, ctx: Context, name: str) -> None:
        if ctx.step not in OVERLAYS:
            ctx.draft["_return"] = ctx.step
        ctx.step = name
        ctx.version += 1

    def _restart(self, ctx: Context, step: str) -> None:
        ctx.draft = new_draft()
        ctx.step = step
        ctx.version += 1

    def _prompt(self, ctx: Context, notice: str | None = None) -> Reply:
        step = self.steps[ctx.step]
        reply = step.prompt(ctx)
        if notice:
            reply.text = f"{notice}\n\n{reply.text}"
        if step.progress is not None and ctx.draft.get("_history"):
            back = ctx.button(ctx._("◀ Back"), BACK)
            last = reply.buttons[-1] if reply.buttons else []
            if len(last) == 1 and all(
                visible_length(b.label) <= HALF_BUTTON_WIDTH for b in (*last, back)
            ):
                last.append(back)  # beside "Done", "Skip"…: the column stays short
            else:
                reply.buttons.append([back])
        return reply
