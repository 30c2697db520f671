"""The coach's side of the bot: linking by deep link, the /coach menu, the alerts' buttons.

- ``/start coach-<token>`` (what Telegram sends when someone opens an invite link) links the
  sender's Telegram account to the coach invited with that token. An unknown, expired, used
  or revoked token gets a clear answer in the sender's language; the citizen conversation
  (draft, step) is left as it was.
- ``/coach`` opens the menu, in the coach's language: follow or unfollow initiatives
  (searched by name, paginated), themes and communes; pause or resume alerts; alerts as
  they come or one daily digest at a time of day (Europe/Brussels); the language. Only for
  linked coaches: for anyone else the runner answers /coach with the normal help.
- Buttons of alerts and digests (``alert:<action>:<alert id>``): "I'll take it", "Not
  relevant", "Contact the citizen", and "open" (a proposal of a digest, in full).

The menu's state (screen, search, page, version) is kept on the coach's row, not in
process memory. Its buttons are ``coach:<action>:v<version>``: a button of an older menu
message only gets a hint and the current menu. While the menu shows a screen that takes
text (the initiative search, the digest time), the coach's text messages go to it; any
other input closes that, and the citizen conversation gets the messages again.

`CoachFlow.handle` runs inside the transaction of the chat's conversation row (the runner's),
and returns None for whatever is not a coach matter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import time
from typing import Any

from bot.flows.base import Button, Input, InputKind, Reply, decode_callback, encode_callback, rows
from bot.services.coach_alerts import (
    ALERT_PREFIX,
    CONTACT,
    DEEP_LINK_PREFIX,
    NOT_RELEVANT,
    OPEN,
    TAKE,
    contact_shareable,
    contact_text,
)
from bot.services.coaching import CoachServices
from bot.text.i18n import LANGUAGE_NAMES, LANGUAGES, N_, Translator
from bot.text.markup import escape
from matching.communes import sorted_for_language
from matching.text import fold
from matching.themes import theme_ids, theme_label
from storage.coaches import (
    COMMUNE,
    DIGEST,
    INITIATIVE,
    THEME,
)
from storage.models import Coach
from storage.models.coaches import IMMEDIATE

MENU = "coach"
MENU_PREFIX = MENU + ":"
PER_PAGE = 8
DIGEST_TIMES = ("07:00", "08:00", "09:00", "12:00", "13:00", "17:00", "18:00", "20:00")
TIME_TEXT = re.compile(r"^\s*([01]?\d|2[0-3])\s*[:hH.]\s*([0-5]\d)?\s*$")
SHOWN_FOLLOWED = 10
LABEL_LENGTH = 48


@dataclass
class CoachAnswer:
    """What the Telegram side does for a coach matter (the runner's `Result`, same fields)."""

    replies: list[Reply] = field(default_factory=list)
    edit: Reply | None = None
    close_pressed: bool = False
    toast: str | None = None
    coach_commands: str | None = None
    """Show the coach's command list (with /coach) in this chat, in this language."""


def parse_time(text: str) -> time | None:
    """ "18:30", "18h30", "18h", "7.05" → a time of day; None for anything else."""
    match = TIME_TEXT.match(text)
    if match is None:
        return None
    return time(int(match.group(1)), int(match.group(2) or 0))


def _short(text: str, length: int = LABEL_LENGTH) -> str:
    return text if len(text) <= length else text[: length - 1].rstrip() + "…"


class Menu:
    """One rendering of the menu for one coach: the translator, the state and the buttons."""

    def __init__(self, coach: Coach) -> None:
        self.coach = coach
        self.t = Translator(coach.language)
        self.state: dict[str, Any] = dict(coach.menu or {})
        self.state.setdefault("version", 0)
        self.state.setdefault("screen", "main")

    def _(self, message: str) -> str:
        return self.t.gettext(message)

    @property
    def version(self) -> int:
        return int(self.state["version"])

    def button(self, label: str, value: str) -> Button:
        return Button(label, encode_callback(MENU, value, self.version))

    def save(self, **changes: Any) -> None:
        """Change the state and give its buttons a new version (a new dict: JSON columns
        only notice assignment)."""
        self.state.update(changes)
        self.state["version"] = self.version + 1
        self.coach.menu = dict(self.state)

    def back(self) -> list[Button]:
        return [self.button("⬅ " + self._("Back to the menu"), "main")]


# ------------------------------------------------------------------ screens


async def render(services: CoachServices, menu: Menu) -> Reply:
    screen = menu.state.get("screen")
    if screen == "initiatives":
        return await _initiatives(services, menu)
    if screen == "themes":
        return _themes(menu)
    if screen == "communes":
        return _communes(menu)
    if screen == "delivery":
        return _delivery(menu)
    if screen == "language":
        return _language(menu)
    if screen == "closed":
        return Reply(menu._("Menu closed. Send /coach to open it again."))
    return await _main(services, menu)


def _delivery_text(menu: Menu) -> str:
    coach = menu.coach
    if coach.mode == DIGEST:
        return menu._("one digest a day at {time} (Brussels time)").format(
            time=menu.t.time(coach.digest_time)
        )
    return menu._("each proposal as soon as it arrives")


def _followed_names(menu: Menu, kind: str) -> list[str]:
    t = menu.t
    if kind == THEME:
        labels = []
        for theme in menu.coach.followed(THEME):
            try:
                labels.append(theme_label(theme, t.language))
            except KeyError:
                labels.append(theme)
        return labels
    names = {c.refnis: c.name(t.language) for c in sorted_for_language(t.language)}
    return [names.get(refnis, refnis) for refnis in menu.coach.followed(COMMUNE)]


async def _main(services: CoachServices, menu: Menu) -> Reply:
    coach, _ = menu.coach, menu._
    field_line = _("<b>{label}</b>: {value}")
    initiatives = await _followed_initiatives(services, coach)
    lines = [
        "🧭 <b>" + _("Coach menu") + "</b>",
        escape(
            _("Hello {name}! Choose what you follow and how alerts reach you.").format(
                name=coach.name
            )
        ),
        "",
        field_line.format(
            label=_("Alerts"), value=_("⏸ paused") if coach.paused else _("▶ active")
        ),
        field_line.format(label=_("Delivery"), value=escape(_delivery_text(menu))),
        field_line.format(
            label=_("Initiatives"),
            value=escape(", ".join(_short(n, 60) for n in initiatives[:SHOWN_FOLLOWED]) or "—")
            + (" …" if len(initiatives) > SHOWN_FOLLOWED else ""),
        ),
        field_line.format(
            label=_("Themes"), value=escape(", ".join(_followed_names(menu, THEME)) or "—")
        ),
        field_line.format(
            label=_("Communes"), value=escape(", ".join(_followed_names(menu, COMMUNE)) or "—")
        ),
    ]
    if not coach.follows:
        lines += ["", _("You follow nothing yet, so you receive no alerts.")]
    buttons = [
        [
            menu.button("📌 " + _("Initiatives"), "ini"),
            menu.button("🏷 " + _("Themes"), "th"),
        ],
        [
            menu.button("📍 " + _("Communes"), "co"),
            menu.button("⏰ " + _("Delivery"), "del"),
        ],
        [
            menu.button("▶ " + _("Resume alerts"), "resume")
            if coach.paused
            else menu.button("⏸ " + _("Pause alerts"), "pause"),
            menu.button("🌐 " + _("Language"), "lang"),
        ],
        [menu.button("✖ " + _("Close the menu"), "close")],
    ]
    return Reply("\n".join(lines), buttons)


async def _followed_initiatives(services: CoachServices, coach: Coach) -> list[str]:
    wanted = {int(v) for v in coach.followed(INITIATIVE)}
    if not wanted:
        return []
    return [name for i, name in await services.initiative_names() if i in wanted]


async def _initiatives(services: CoachServices, menu: Menu) -> Reply:
    _ = menu._
    query = str(menu.state.get("query") or "")
    everything = await services.initiative_names()
    followed = {int(v) for v in menu.coach.followed(INITIATIVE)}
    if query:
        needle = fold(query)
        found = [(i, n) for i, n in everything if needle in fold(n)]
    else:
        # followed first, so that unfollowing is one tap away
        found = sorted(everything, key=lambda item: item[0] not in followed)
    pages = max(1, -(-len(found) // PER_PAGE))
    page = min(max(0, int(menu.state.get("page") or 0)), pages - 1)
    shown = found[page * PER_PAGE : (page + 1) * PER_PAGE]
    names = [n for i, n in everything if i in followed]
    lines = [
        "📌 <b>" + _("Initiatives you follow") + "</b>",
        escape(", ".join(_short(n, 60) for n in names[:SHOWN_FOLLOWED]) or _("none yet"))
        + (" …" if len(names) > SHOWN_FOLLOWED else ""),
        "",
    ]
    if query:
        lines.append(
            escape(
                menu.t.ngettext(
                    "One initiative matches “{query}”.",
                    "{count} initiatives match “{query}”.",
                    len(found),
                ).format(count=len(found), query=_short(query, 40))
            )
        )
    lines.append(
        _("Send a few letters of a name to search. Tap an initiative to follow it or not.")
    )
    if pages > 1:
        lines.append(
            "<i>" + _("Page {page} of {pages}").format(page=page + 1, pages=pages) + "</i>"
        )
    buttons = [
        [menu.button(("✅ " if i in followed else "▫️ ") + _short(n), f"ini:t:{i}")]
        for i, n in shown
    ]
    nav = []
    if page > 0:
        nav.append(menu.button("◀ " + _("Previous"), f"ini:p:{page - 1}"))
    if page < pages - 1:
        nav.append(menu.button(_("Next") + " ▶", f"ini:p:{page + 1}"))
    if nav:
        buttons.append(nav)
    if query:
        buttons.append([menu.button("✖ " + _("Clear the search"), "ini:clear")])
    buttons.append(menu.back())
    return Reply("\n".join(lines), buttons)


def _toggles(menu: Menu, kind: str, options: dict[str, str], prefix: str) -> list[list[Button]]:
    chosen = set(menu.coach.followed(kind))
    toggles = [
        menu.button(("✅ " if key in chosen else "▫️ ") + label, f"{prefix}:t:{key}")
        for key, label in options.items()
    ]
    return [*rows(toggles, 2), menu.back()]


RULE = N_(
    "You receive the proposals that have a theme you follow in a commune you follow. If you "
    "follow only themes, or only communes, that is enough."
)


def _themes(menu: Menu) -> Reply:
    options = {theme: theme_label(theme, menu.t.language) for theme in theme_ids()}
    text = "🏷 <b>" + menu._("Themes you follow") + "</b>\n" + menu._(RULE)
    return Reply(text, _toggles(menu, THEME, options, "th"))


def _communes(menu: Menu) -> Reply:
    options = {c.refnis: c.name(menu.t.language) for c in sorted_for_language(menu.t.language)}
    text = "📍 <b>" + menu._("Communes you follow") + "</b>\n" + menu._(RULE)
    return Reply(text, _toggles(menu, COMMUNE, options, "co"))


def _delivery(menu: Menu) -> Reply:
    coach, _ = menu.coach, menu._
    lines = [
        "⏰ <b>" + _("How alerts reach you") + "</b>",
        _("Now: {delivery}.").format(delivery=escape(_delivery_text(menu))),
    ]
    tick = "✅ "
    buttons = [
        [
            menu.button(
                (tick if coach.mode == IMMEDIATE else "") + "⚡ " + _("As they come"), "del:now"
            )
        ],
        [
            menu.button(
                (tick if coach.mode == DIGEST else "") + "📰 " + _("One digest a day"), "del:dig"
            )
        ],
    ]
    if coach.mode == DIGEST:
        lines.append(_("At what time? Tap one, or send a time such as 18:30 (Brussels time)."))
        current = coach.digest_time.strftime("%H:%M")
        times = [
            menu.button(
                (tick if value == current else "") + value, "del:at:" + value.replace(":", "")
            )
            for value in DIGEST_TIMES
        ]
        buttons += rows(times, 4)
    buttons.append(menu.back())
    return Reply("\n".join(lines), buttons)


def _language(menu: Menu) -> Reply:
    buttons = [
        [
            menu.button(("✅ " if code == menu.coach.language else "") + name, "lang:" + code)
            for code, name in LANGUAGE_NAMES.items()
        ],
        menu.back(),
    ]
    return Reply("🌐 <b>" + menu._("The language of your menu and alerts") + "</b>", buttons)


# ------------------------------------------------------------------ the flow


class CoachFlow:
    def __init__(self, default_language: str) -> None:
        self.default_language = default_language

    async def handle(
        self,
        services: CoachServices,
        *,
        user_id: int,
        chat_id: int,
        language: str,
        inp: Input,
    ) -> CoachAnswer | None:
        """A coach matter for this update, or None (the citizen conversation takes it).

        `language` is the one to use for someone who is not (yet) a coach."""
        if (
            inp.kind is InputKind.COMMAND
            and inp.text == "start"
            and inp.argument.startswith(DEEP_LINK_PREFIX)
        ):
            return await self._link(services, user_id, chat_id, language, inp.argument)
        ours = inp.kind is InputKind.BUTTON and inp.text.startswith((MENU_PREFIX, ALERT_PREFIX))
        coach = await services.coach_of(user_id)
        if coach is None:
            if ours:
                t = Translator(language)
                return CoachAnswer(
                    toast=t.gettext("This button is only for coaches."), close_pressed=True
                )
            return None
        if inp.kind is InputKind.COMMAND and inp.text == MENU:
            menu = Menu(coach)
            menu.save(screen="main", awaiting=None)
            return CoachAnswer(replies=[await render(services, menu)])
        if ours and inp.text.startswith(ALERT_PREFIX):
            return await self._alert(services, coach, inp.text)
        if ours:
            return await self._menu_button(services, coach, inp.text)
        awaiting = (coach.menu or {}).get("awaiting")
        if inp.kind is InputKind.TEXT and awaiting:
            return await self._menu_text(services, coach, str(awaiting), inp.text)
        if awaiting:  # the coach went back to the citizen conversation: text goes there again
            coach.menu = {**coach.menu, "awaiting": None}
        return None

    # ---- linking ------------------------------------------------------------------------

    async def _link(
        self, services: CoachServices, user_id: int, chat_id: int, language: str, argument: str
    ) -> CoachAnswer:
        token = argument.removeprefix(DEEP_LINK_PREFIX).strip()
        outcome = await services.link(token, user_id, chat_id)
        t = Translator(outcome.coach.language if outcome.coach else language)
        if outcome.status == "linked" and outcome.coach is not None:
            menu = Menu(outcome.coach)
            menu.save(screen="main", awaiting=None)
            welcome = escape(
                t.gettext(
                    "Welcome, {name}! Your Telegram account is now linked to your coach "
                    "account. Choose below what you follow: you will receive an alert for each "
                    "new proposal that matches. Send /coach to open this menu at any time."
                ).format(name=outcome.coach.name)
            )
            return CoachAnswer(
                replies=[Reply("✅ " + welcome), await render(services, menu)],
                coach_commands=outcome.coach.language,
            )
        messages = {
            "expired": t.gettext(
                "This coach invitation has expired (links are valid for 7 days). Please ask "
                "the staff for a new one."
            ),
            "used": t.gettext(
                "This coach invitation has already been used. Please ask the staff for a new "
                "link if you need one."
            ),
            "revoked": t.gettext(
                "This coach invitation was cancelled by the staff. Please ask them for a new link."
            ),
            "other_coach": t.gettext(
                "Your Telegram account is already linked to another coach account. Send /coach "
                "to open your menu, or ask the staff."
            ),
        }
        text = messages.get(
            outcome.status,
            t.gettext(
                "I do not know this coach invitation. Please check that you opened the whole "
                "link, or ask the staff for a new one."
            ),
        )
        hint = t.gettext("To propose an idea for your neighbourhood, send /start.")
        return CoachAnswer(replies=[Reply(f"⚠️ {text}\n\n{hint}")])

    # ---- the menu -----------------------------------------------------------------------

    async def _menu_button(self, services: CoachServices, coach: Coach, data: str) -> CoachAnswer:
        menu = Menu(coach)
        callback = decode_callback(data)
        if callback is None or callback.step != MENU or callback.version != menu.version:
            menu.save(awaiting=_awaiting(menu.state.get("screen"), coach))
            return CoachAnswer(
                toast=menu._("This menu is out of date: here is the current one."),
                close_pressed=True,
                replies=[await render(services, menu)],
            )
        action, _sep, argument = callback.value.partition(":")
        toast: str | None = None
        if action == "main":
            menu.save(screen="main", awaiting=None)
        elif action == "close":
            menu.save(screen="closed", awaiting=None)
        elif action == "pause":
            coach.paused = True
            menu.save(screen="main")
            toast = menu._("Alerts paused.")
        elif action == "resume":
            coach.paused = False
            menu.save(screen="main")
            toast = menu._("Alerts resumed.")
        elif action == "ini":
            toast = await self._initiative_action(services, menu, argument)
        elif action in ("th", "co"):
            kind, screen = (THEME, "themes") if action == "th" else (COMMUNE, "communes")
            verb, _sep, key = argument.partition(":")
            if verb == "t":
                allowed = (
                    set(theme_ids())
                    if kind == THEME
                    else {c.refnis for c in sorted_for_language("fr")}
                )
                if key not in allowed:
                    return CoachAnswer(toast=menu._("Please use the buttons below."))
                following = key in coach.followed(kind)
                await services.set_follow(coach, kind, key, not following)
            menu.save(screen=screen, awaiting=None)
        elif action == "del":
            toast = await self._delivery_action(services, menu, argument)
        elif action == "lang":
            if argument in LANGUAGES:
                coach.language = argument
                menu = Menu(coach)  # in the new language
                menu.save(screen="main", awaiting=None)
            else:
                menu.save(screen="language", awaiting=None)
        else:
            return CoachAnswer(toast=menu._("Please use the buttons below."))
        return CoachAnswer(
            edit=await render(services, menu),
            toast=toast,
            coach_commands=coach.language if action == "lang" else None,
        )

    async def _initiative_action(
        self, services: CoachServices, menu: Menu, argument: str
    ) -> str | None:
        verb, _sep, value = argument.partition(":")
        toast = None
        changes: dict[str, Any] = {"screen": "initiatives", "awaiting": "search"}
        if verb == "" and menu.state.get("screen") != "initiatives":
            changes.update(query="", page=0)
        elif verb == "p" and value.isdigit():
            changes["page"] = int(value)
        elif verb == "clear":
            changes.update(query="", page=0)
        elif verb == "t" and value.isdigit():
            following = value in menu.coach.followed(INITIATIVE)
            try:
                await services.set_follow(menu.coach, INITIATIVE, value, not following)
            except ValueError:
                toast = menu._("This initiative is no longer in the catalogue.")
            else:
                toast = (
                    menu._("You no longer follow this initiative.")
                    if following
                    else menu._("You now follow this initiative.")
                )
        menu.save(**changes)
        return toast

    async def _delivery_action(
        self, services: CoachServices, menu: Menu, argument: str
    ) -> str | None:
        coach = menu.coach
        verb, _sep, value = argument.partition(":")
        toast = None
        if verb == "now":
            coach.mode = IMMEDIATE
            await services.send_pending_now(coach)
            toast = menu._("You will receive each proposal as soon as it arrives.")
        elif verb == "dig":
            coach.mode = DIGEST
        elif verb == "at" and len(value) == 4 and value.isdigit():
            chosen = parse_time(value[:2] + ":" + value[2:])
            if chosen is not None:
                coach.mode = DIGEST
                coach.digest_time = chosen
                toast = _digest_toast(menu, chosen)
        menu.save(screen="delivery", awaiting=_awaiting("delivery", coach))
        return toast

    async def _menu_text(
        self, services: CoachServices, coach: Coach, awaiting: str, text: str
    ) -> CoachAnswer:
        menu = Menu(coach)
        if awaiting == "search":
            menu.save(screen="initiatives", query=text.strip()[:100], page=0)
            return CoachAnswer(replies=[await render(services, menu)])
        chosen = parse_time(text)
        if chosen is None:
            menu.save()
            notice = menu._("Please send a time of day such as 18:30, or tap one of the buttons.")
            reply = await render(services, menu)
            reply.text = f"{notice}\n\n{reply.text}"
            return CoachAnswer(replies=[reply])
        coach.mode = DIGEST
        coach.digest_time = chosen
        menu.save(screen="delivery")
        reply = await render(services, menu)
        reply.text = "✓ " + _digest_toast(menu, chosen) + "\n\n" + reply.text
        return CoachAnswer(replies=[reply])

    # ---- alerts -------------------------------------------------------------------------

    async def _alert(self, services: CoachServices, coach: Coach, data: str) -> CoachAnswer:
        t = Translator(coach.language)
        action, _sep, number = data.removeprefix(ALERT_PREFIX).partition(":")
        alert = await services.alert(int(number)) if number.isdigit() else None
        if alert is None or alert.coach_id != coach.id:
            return CoachAnswer(toast=t.gettext("This alert is not yours, or it no longer exists."))
        proposal = alert.proposal
        if action == OPEN:
            card = await services.alert_card(alert, coach, proposal)
            return CoachAnswer(replies=[_reply(card.text, card.buttons)])
        if action == CONTACT:
            if not contact_shareable(proposal):
                return CoachAnswer(
                    toast=t.gettext("The citizen's contact details are not available.")
                )
            return CoachAnswer(replies=[Reply(contact_text(coach.language, proposal))])
        toast: str
        if action == TAKE:
            outcome = await services.take(alert)
            if outcome.won:
                toast = t.gettext("You took it: the other coaches are told.")
            elif outcome.take.coach_id == coach.id:
                toast = t.gettext("You took it already.")
            else:
                toast = t.gettext("{name} took it first.").format(name=outcome.take.coach.name)
        elif action == NOT_RELEVANT:
            services.not_relevant(alert)
            toast = t.gettext("Thank you: the staff will see that this match was not relevant.")
        else:
            return CoachAnswer(toast=t.gettext("Please use the buttons below."))
        card = await services.alert_card(alert, coach, proposal)
        return CoachAnswer(edit=_reply(card.text, card.buttons), toast=toast)


def _awaiting(screen: object, coach: Coach) -> str | None:
    if screen == "initiatives":
        return "search"
    if screen == "delivery" and coach.mode == DIGEST:
        return "time"
    return None


def _digest_toast(menu: Menu, chosen: time) -> str:
    return menu._("Your digest will arrive every day at {time}.").format(time=menu.t.time(chosen))


def _reply(text: str, buttons: list[list[dict[str, str]]]) -> Reply:
    return Reply(
        text,
        [
            [Button(b["text"], b["callback_data"]) for b in row if "callback_data" in b]
            for row in buttons
        ],
    )
