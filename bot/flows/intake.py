"""The citizen intake conversation, top to bottom (DESIGN.md section 4).

language → welcome → title → description → where → carrier → partners → themes →
similar → budget → call → contact → review → done. Each step stores what it parsed in
the draft; `review` lets the citizen edit any field and come back.
"""

from __future__ import annotations

import uuid
from typing import Any

from bot.flows.base import Button, Context, Invalid, Outcome, Reply, Step, advance, goto, rows, stay
from bot.text.i18n import LANGUAGE_NAMES, LANGUAGES, N_
from bot.text.labels import ACTOR_KINDS, concept_label
from bot.text.markup import escape, shorten
from bot.text.parsers import (
    ParseError,
    ParseErrorCode,
    parse_budget,
    parse_contact,
    parse_description,
    parse_name,
    parse_title,
)
from matching.calls import ProposalFacts, all_calls, eligible_calls
from matching.communes import (
    commune_by_refnis,
    communes_for_postcode,
    find_commune,
    nearest_commune,
    sorted_for_language,
)
from matching.themes import preselect, theme_ids, theme_label
from storage.clock import brussels_today
from storage.proposals import NewProposal

TOTAL_STEPS = 11
MAX_THEMES = 3
REVIEW_DESCRIPTION_LENGTH = 1000
"""Longer descriptions are cut in the review, which must fit one Telegram message."""


def parse_error_message(ctx: Context, error: ParseError) -> str:
    """The citizen-facing sentence for a parser's error code."""
    p = error.params
    messages = {
        ParseErrorCode.EMPTY: ctx._("I received an empty message. Please write your answer."),
        ParseErrorCode.NO_WORDS: ctx._("Please answer with words, not only symbols or emoji."),
        ParseErrorCode.TOO_SHORT: ctx._(
            "That is a bit short: at least {minimum} characters, please (you wrote {length})."
        ),
        ParseErrorCode.TOO_LONG: ctx._(
            "That is too long: at most {maximum} characters, please (you wrote {length})."
        ),
        ParseErrorCode.UNPARSABLE: ctx._(
            "I could not read an amount in euros. Write a number, for example 2500 or 2.500 €."
        ),
        ParseErrorCode.NEGATIVE: ctx._("A budget cannot be negative. Write an amount in euros."),
        ParseErrorCode.ZERO: ctx._(
            "A budget of zero is not a budget. Write an amount, or press “I don't know yet”."
        ),
        ParseErrorCode.TOO_LARGE: ctx._(
            "That is more than any call here can fund (at most {maximum}). Please check the amount."
        ),
        ParseErrorCode.TOO_PRECISE: ctx._("Please give the amount with at most two decimals."),
        ParseErrorCode.INVALID_EMAIL: ctx._(
            "This does not look like a valid e-mail address (for example: name@example.be)."
        ),
        ParseErrorCode.INVALID_PHONE: ctx._(
            "This does not look like a valid phone number (for example: 0470 12 34 56)."
        ),
    }
    values = dict(p)
    if "maximum_cents" in values:
        values["maximum"] = ctx.t.money(int(str(values["maximum_cents"])))
    return messages[error.code].format(**values)


def header(ctx: Context, step: Step) -> str:
    if step.progress is None:
        return ""
    return (
        "<i>"
        + ctx._("Step {number} of {total}").format(number=step.progress, total=TOTAL_STEPS)
        + "</i>\n"
    )


def commune_label(ctx: Context, refnis: str) -> str:
    return commune_by_refnis(refnis).name(ctx.t.language)


def place_summary(ctx: Context) -> str:
    draft = ctx.draft
    if draft.get("region_wide"):
        return ctx._("The whole Brussels-Capital Region")
    if draft.get("commune"):
        return commune_label(ctx, draft["commune"])
    return "—"


def choices_summary(ctx: Context, keys: list[str], labels: dict[str, str]) -> str:
    return ", ".join(ctx._(labels[key]) for key in keys if key in labels) or "—"


class LanguageStep(Step):
    name = "language"

    def prompt(self, ctx: Context) -> Reply:
        text = "Choisissez votre langue · Kies uw taal · Choose your language"
        return Reply(text, [[ctx.button(LANGUAGE_NAMES[code], code) for code in LANGUAGES]])

    async def on_text(self, ctx: Context, text: str) -> Outcome:
        folded = text.strip().lower()
        for code, name in LANGUAGE_NAMES.items():
            if folded in (code, name.lower()):
                return await self.on_button(ctx, code)
        raise Invalid(ctx._("Please choose a language with the buttons below."))

    async def on_button(self, ctx: Context, value: str) -> Outcome:
        if value not in LANGUAGES:
            raise Invalid(ctx._("Please choose a language with the buttons below."))
        ctx.switch_language(value)
        return advance()

    def next(self, ctx: Context) -> str:
        return str(ctx.draft.pop("_return", None) or "welcome")


class WelcomeStep(Step):
    name = "welcome"

    def prompt(self, ctx: Context) -> Reply:
        text = ctx._(
            "<b>Hello!</b> I help you turn an idea for your neighbourhood into a proposal for "
            "Bruxelles Environnement and the communes of Brussels.\n\n"
            "In about five minutes we will describe your idea step by step; the staff then read "
            "it and answer you here. You can stop at any time: your draft is kept."
            "\n\nPrivacy: your answers are stored only to handle your proposal. /privacy tells "
            "you more."
        )
        return Reply(text, [[ctx.button(ctx._("Start my proposal"), "start")]])

    async def on_text(self, ctx: Context, text: str) -> Outcome:
        raise Invalid(ctx._("Press “Start my proposal” to begin."))

    async def on_button(self, ctx: Context, value: str) -> Outcome:
        return advance()

    def next(self, ctx: Context) -> str:
        return "title"


class TitleStep(Step):
    name = "title"
    progress = 1

    def prompt(self, ctx: Context) -> Reply:
        return Reply(
            header(ctx, self)
            + ctx._(
                "What is the <b>title</b> of your idea? One short sentence, 5 to 120 "
                "characters.\n<i>For example: A shared vegetable garden in the Josaphat park</i>"
            )
        )

    async def on_text(self, ctx: Context, text: str) -> Outcome:
        try:
            ctx.draft["title"] = parse_title(text)
        except ParseError as error:
            raise Invalid(parse_error_message(ctx, error)) from None
        return advance()

    def next(self, ctx: Context) -> str:
        return "description"


class DescriptionStep(Step):
    name = "description"
    progress = 2

    def prompt(self, ctx: Context) -> Reply:
        return Reply(
            header(ctx, self)
            + ctx._(
                "Now <b>describe</b> your idea in a few sentences: <b>what</b> you want to do, "
                "<b>with whom</b>, and <b>why</b> it matters for the neighbourhood "
                "(30 to 3000 characters)."
            )
        )

    async def on_text(self, ctx: Context, text: str) -> Outcome:
        try:
            ctx.draft["description"] = parse_description(text)
        except ParseError as error:
            raise Invalid(parse_error_message(ctx, error)) from None
        return advance()

    def next(self, ctx: Context) -> str:
        return "where"


class WhereStep(Step):
    name = "where"
    progress = 3

    def prompt(self, ctx: Context) -> Reply:
        text = header(ctx, self) + ctx._(
            "<b>Where</b> would it happen? Write the <b>postcode</b> (for example 1030) or the "
            "name of the <b>commune</b>, or share a location (📎 → Location)."
        )
        return Reply(
            text,
            [
                [ctx.button(ctx._("📋 Choose from the list of communes"), "list")],
                [ctx.button(ctx._("🌍 The whole region"), "region")],
            ],
        )

    async def on_text(self, ctx: Context, text: str) -> Outcome:
        if not text.strip():
            raise Invalid(ctx._("Please write a postcode or the name of a commune."))
        matches = find_commune(text)
        if not matches:
            digits = "".join(c for c in text if c.isdigit())
            if len(digits) == 4 and not communes_for_postcode(digits):
                raise Invalid(
                    ctx._("{postcode} is not a postcode of the Brussels-Capital Region.").format(
                        postcode=escape(digits)
                    )
                )
            raise Invalid(
                ctx._(
                    "I did not find a Brussels commune in “{text}”. Try the postcode "
                    "(for example 1050) or choose from the list."
                ).format(text=escape(text.strip()[:80]))
            )
        if len(matches) > 1:
            ctx.draft["_candidates"] = [match.commune.refnis for match in matches]
            return goto("where_list")
        match = matches[0]
        if match.exact:
            return self._settle(ctx, match.commune.refnis)
        ctx.draft["_pending_commune"] = match.commune.refnis
        ctx.draft["_pending_approximate"] = False
        return goto("where_confirm")

    async def on_location(self, ctx: Context, latitude: float, longitude: float) -> Outcome:
        try:
            found = nearest_commune(latitude, longitude)
        except ValueError:
            # Not a point on Earth (latitude 200, NaN): Telegram should never send one, but
            # the emulator or a forged update can; bad input like any other at this step.
            raise Invalid(ctx._("Please write a postcode or the name of a commune.")) from None
        if found is None:
            raise Invalid(
                ctx._(
                    "This location seems to be outside the Brussels-Capital Region. Write the "
                    "postcode or choose from the list."
                )
            )
        ctx.draft["latitude"], ctx.draft["longitude"] = latitude, longitude
        ctx.draft["_pending_commune"] = found[0].refnis
        ctx.draft["_pending_approximate"] = True
        return goto("where_confirm")

    async def on_button(self, ctx: Context, value: str) -> Outcome:
        if value == "list":
            ctx.draft.pop("_candidates", None)
            return goto("where_list")
        if value == "region":
            ctx.draft["region_wide"] = True
            ctx.draft.pop("commune", None)
            return advance()
        raise Invalid(ctx._("Please write a postcode or the name of a commune."))

    @staticmethod
    def _settle(ctx: Context, refnis: str) -> Outcome:
        ctx.draft["commune"] = refnis
        ctx.draft["region_wide"] = False
        return goto("carrier", notice="✓ " + escape(commune_label(ctx, refnis)))

    def next(self, ctx: Context) -> str:
        return "carrier"


class WhereConfirmStep(Step):
    name = "where_confirm"
    progress = 3

    def prompt(self, ctx: Context) -> Reply:
        refnis = ctx.draft.get("_pending_commune", "")
        commune = escape(commune_label(ctx, refnis))
        if ctx.draft.get("_pending_approximate"):
            text = ctx._("This location is in or near <b>{commune}</b>. Is that right?")
        else:
            text = ctx._("Did you mean <b>{commune}</b>?")
        return Reply(
            header(ctx, self) + text.format(commune=commune),
            [
                [ctx.button(ctx._("✅ Yes"), "yes")],
                [ctx.button(ctx._("No, choose from the list"), "no")],
            ],
        )

    async def on_text(self, ctx: Context, text: str) -> Outcome:
        return await WhereStep().on_text(ctx, text)

    async def on_button(self, ctx: Context, value: str) -> Outcome:
        refnis = ctx.draft.pop("_pending_commune", None)
        ctx.draft.pop("_pending_approximate", None)
        if value == "yes" and refnis:
            return WhereStep._settle(ctx, refnis)
        ctx.draft.pop("latitude", None)
        ctx.draft.pop("longitude", None)
        ctx.draft.pop("_candidates", None)
        return goto("where_list")

    def next(self, ctx: Context) -> str:
        return "carrier"


class WhereListStep(Step):
    name = "where_list"
    progress = 3

    def prompt(self, ctx: Context) -> Reply:
        candidates = ctx.draft.get("_candidates")
        communes = [
            c
            for c in sorted_for_language(ctx.t.language)
            if not candidates or c.refnis in candidates
        ]
        text = header(ctx, self) + (
            ctx._("Several communes match. Which one?")
            if candidates
            else ctx._("Choose the commune:")
        )
        buttons = rows([ctx.button(c.name(ctx.t.language), c.refnis) for c in communes], 2)
        buttons.append([ctx.button(ctx._("🌍 The whole region"), "region")])
        return Reply(text, buttons)

    async def on_text(self, ctx: Context, text: str) -> Outcome:
        return await WhereStep().on_text(ctx, text)

    async def on_button(self, ctx: Context, value: str) -> Outcome:
        ctx.draft.pop("_candidates", None)
        if value == "region":
            ctx.draft["region_wide"] = True
            ctx.draft.pop("commune", None)
            return advance()
        try:
            commune_by_refnis(value)
        except KeyError:
            raise Invalid(ctx._("Please choose a commune with the buttons below.")) from None
        return WhereStep._settle(ctx, value)

    def next(self, ctx: Context) -> str:
        return "carrier"


class CarrierStep(Step):
    name = "carrier"
    progress = 4

    def prompt(self, ctx: Context) -> Reply:
        text = header(ctx, self) + ctx._("<b>Who would carry</b> the project?")
        return Reply(
            text, rows([ctx.button(ctx._(label), key) for key, label in ACTOR_KINDS.items()], 1)
        )

    async def on_button(self, ctx: Context, value: str) -> Outcome:
        if value not in ACTOR_KINDS:
            raise Invalid(ctx._("Please choose with the buttons below."))
        ctx.draft["carrier"] = value
        return advance(notice="✓ " + ctx._(ACTOR_KINDS[value]))

    def next(self, ctx: Context) -> str:
        return "partners"


class ToggleStep(Step):
    """Choose several options with toggles, then press Done."""

    field = ""
    limit: int | None = None
    required = False

    def options(self, ctx: Context) -> dict[str, str]:
        """Option id → label in the citizen's language."""
        raise NotImplementedError

    def question(self, ctx: Context) -> str:
        raise NotImplementedError

    def prompt(self, ctx: Context) -> Reply:
        chosen = ctx.draft.get(self.field, [])
        buttons = [
            ctx.button(("✅ " if key in chosen else "▫️ ") + label, key)
            for key, label in self.options(ctx).items()
        ]
        done = ctx._("Done ✔") if chosen or self.required else ctx._("None, continue ➡")
        return Reply(
            header(ctx, self) + self.question(ctx), [*rows(buttons, 2), [ctx.button(done, "done")]]
        )

    async def on_button(self, ctx: Context, value: str) -> Outcome:
        chosen: list[str] = list(ctx.draft.get(self.field, []))
        if value == "done":
            if self.required and not chosen:
                raise Invalid(ctx._("Choose at least one, then press Done."))
            ctx.draft[self.field] = chosen
            return advance()
        if value not in self.options(ctx):
            raise Invalid(ctx._("Please choose with the buttons below."))
        if value in chosen:
            chosen.remove(value)
        elif self.limit is not None and len(chosen) >= self.limit:
            raise Invalid(
                ctx.t.ngettext(
                    "You can choose up to {limit} option: remove one first.",
                    "You can choose up to {limit} options: remove one first.",
                    self.limit,
                ).format(limit=self.limit)
            )
        else:
            chosen.append(value)
        ctx.draft[self.field] = chosen
        return stay()


class PartnersStep(ToggleStep):
    name = "partners"
    progress = 5
    field = "partners"

    def options(self, ctx: Context) -> dict[str, str]:
        return {key: ctx._(label) for key, label in ACTOR_KINDS.items()}

    def question(self, ctx: Context) -> str:
        return ctx._(
            "Who else would take part? Projects that bring together citizens, associations, "
            "schools, businesses and the commune are the most welcome. Tick all that apply."
        )

    async def on_text(self, ctx: Context, text: str) -> Outcome:
        raise Invalid(ctx._("Tick the partners with the buttons, then press the last button."))

    def next(self, ctx: Context) -> str:
        return "themes"


class ThemesStep(ToggleStep):
    """Themes, pre-ticked from the title and description; the citizen changes them."""

    name = "themes"
    progress = 6
    field = "themes"
    limit = MAX_THEMES
    required = True

    async def enter(self, ctx: Context) -> None:
        if "themes" not in ctx.draft:
            text = f"{ctx.draft.get('title', '')}\n{ctx.draft.get('description', '')}"
            ctx.draft["themes"] = preselect(text, ctx.t.language)
            ctx.draft["_themes_suggested"] = bool(ctx.draft["themes"])

    def options(self, ctx: Context) -> dict[str, str]:
        return {theme: theme_label(theme, ctx.t.language) for theme in theme_ids()}

    def question(self, ctx: Context) -> str:
        question = ctx.t.ngettext(
            "Which <b>theme</b> fits your idea best? Choose up to {limit}, then press Done.",
            "Which <b>themes</b> fit your idea best? Choose up to {limit}, then press Done.",
            MAX_THEMES,
        ).format(limit=MAX_THEMES)
        if ctx.draft.get("_themes_suggested"):
            question += "\n" + ctx._(
                "<i>I ticked the ones your description suggests: change them if needed.</i>"
            )
        return question

    async def on_text(self, ctx: Context, text: str) -> Outcome:
        raise Invalid(ctx._("Choose the themes with the buttons, then press Done."))

    def next(self, ctx: Context) -> str:
        return "similar"


MAX_REASONS = 3


def similar_reasons(ctx: Context, codes: tuple[str, ...] | list[str]) -> str:
    """ "same commune · both mention compost" from the matcher's reason codes.

    Shared words are only given when nothing more telling (place, concepts, themes) is.
    """
    parts = []
    for code in codes:
        kind, _sep, values = code.partition(":")
        items = [v for v in values.split(",") if v]
        if kind == "same_commune":
            parts.append(ctx._("same commune"))
        elif kind == "nearby_commune" and items:
            parts.append(
                ctx._("close by, in {commune}").format(commune=commune_label(ctx, items[0]))
            )
        elif kind == "shared_themes" and items:
            labels = ", ".join(theme_label(t, ctx.t.language) for t in items)
            parts.append(ctx._("both about {topics}").format(topics=labels.lower()))
        elif kind == "shared_concepts" and items:
            labels = ", ".join(concept_label(c, ctx.t.language) for c in items)
            parts.append(ctx._("both mention {topics}").format(topics=labels))
        elif kind == "similar_words" and items and not parts:
            parts.append(ctx._("similar words: {words}").format(words=", ".join(items)))
    return escape(" · ".join(parts[:MAX_REASONS]))


class SimilarStep(Step):
    """Existing initiatives and proposals close to the idea, so that people join forces.

    Skipped when nothing is close enough.
    """

    name = "similar"
    progress = 7

    async def enter(self, ctx: Context) -> None:
        found = await ctx.services.similar(ctx.draft, ctx.t.language)
        ctx.draft["_similar"] = [
            {
                "id": item.document_id,
                "kind": item.kind,
                "name": item.name,
                "commune": item.commune,
                "contactable": item.contactable,
                "reasons": list(item.reasons),
            }
            for item in found
        ]

    def skip(self, ctx: Context) -> bool:
        return not ctx.draft.get("_similar")

    def prompt(self, ctx: Context) -> Reply:
        lines = [
            header(ctx, self)
            + ctx._(
                "<b>Others have had a similar idea.</b> Joining forces often makes a project "
                "stronger:"
            )
        ]
        connect: list[Button] = []
        for number, item in enumerate(ctx.draft.get("_similar", []), start=1):
            name = item["name"] or ctx._("A proposal already submitted by another citizen")
            where = f" ({escape(commune_label(ctx, item['commune']))})" if item["commune"] else ""
            reasons = similar_reasons(ctx, item["reasons"])
            lines.append(f"\n{number}. <b>{escape(name)}</b>{where}\n<i>{reasons}</i>")
            if item["contactable"]:
                label = ctx._("🤝 Put me in touch with {number}").format(number=number)
                connect.append(ctx.button(label, "c" + item["id"]))
        different = ctx.button(ctx._("Mine is different ➡"), "different")
        return Reply("\n".join(lines), [*rows(connect, 2), [different]])

    async def on_text(self, ctx: Context, text: str) -> Outcome:
        raise Invalid(ctx._("Please choose with the buttons below."))

    async def on_button(self, ctx: Context, value: str) -> Outcome:
        if value == "different":
            ctx.draft["similar"] = {"choice": "different"}
            return advance()
        chosen = next(
            (item for item in ctx.draft.get("_similar", []) if "c" + item["id"] == value), None
        )
        if chosen is None or not chosen["contactable"]:
            raise Invalid(ctx._("Please choose with the buttons below."))
        ctx.draft["similar"] = {
            "choice": "connect",
            "kind": chosen["kind"],
            "id": chosen["id"],
            "name": chosen["name"],
        }
        return advance(notice="✓ " + ctx._("We will pass on your wish to be put in touch."))

    def next(self, ctx: Context) -> str:
        return "budget"


class BudgetStep(Step):
    name = "budget"
    progress = 8

    def prompt(self, ctx: Context) -> Reply:
        return Reply(
            header(ctx, self)
            + ctx._(
                "Roughly what <b>budget in euros</b> would it need? For example: 2500, "
                "2.500 € or 2,5k. A rough estimate is fine."
            ),
            [[ctx.button(ctx._("I don't know yet"), "unknown")]],
        )

    async def on_text(self, ctx: Context, text: str) -> Outcome:
        try:
            cents = parse_budget(text, ctx.t.language)
        except ParseError as error:
            raise Invalid(parse_error_message(ctx, error)) from None
        ctx.draft["budget_cents"] = cents
        return advance(notice="✓ " + ctx.t.money(cents))

    async def on_button(self, ctx: Context, value: str) -> Outcome:
        if value != "unknown":
            raise Invalid(ctx._("Please write an amount in euros."))
        ctx.draft["budget_cents"] = None
        return advance()

    def next(self, ctx: Context) -> str:
        return "call"


def eligible_for(draft: dict[str, Any]) -> list[dict[str, Any]]:
    facts = ProposalFacts(
        commune=draft.get("commune"),
        region_wide=bool(draft.get("region_wide")),
        carrier=draft.get("carrier"),
        themes=tuple(draft.get("themes", [])),
        budget_cents=draft.get("budget_cents"),
    )
    today = brussels_today()
    return [{"id": e.call.id, "reasons": list(e.reasons)} for e in eligible_calls(facts, today)]


def call_reasons(ctx: Context, eligible: dict[str, Any]) -> str:
    call = all_calls()[eligible["id"]]
    parts = [ctx._("up to {amount}").format(amount=ctx.t.money(call.budget_max_cents))]
    for code in eligible["reasons"]:
        kind, _sep, values = code.partition(":")
        if kind == "commune" and ctx.draft.get("commune"):
            parts.append(ctx._("for {commune}").format(commune=place_summary(ctx)))
        elif kind == "themes" and values:
            labels = ", ".join(theme_label(t, ctx.t.language) for t in values.split(","))
            parts.append(ctx._("funds {topics}").format(topics=labels.lower()))
        elif kind == "budget_unknown":
            parts.append(ctx._("check your budget fits"))
    return escape(" · ".join(parts))


class CallStep(Step):
    """The calls the proposal is eligible for, best first, and "let the staff decide"."""

    name = "call"
    progress = 9

    async def enter(self, ctx: Context) -> None:
        ctx.draft["_calls"] = eligible_for(ctx.draft)

    def prompt(self, ctx: Context) -> Reply:
        eligible = ctx.draft.get("_calls", [])
        staff = ctx.button(ctx._("Let the staff decide"), "staff")
        if not eligible:
            text = ctx._(
                "No open call fits all the answers you gave, but the staff know other ways to "
                "help. They will look at your proposal and tell you."
            )
            return Reply(header(ctx, self) + text, [[staff]])
        lines = [
            header(ctx, self)
            + ctx._("<b>Which call</b> should your proposal go to? These fit, best first:")
        ]
        buttons = []
        for number, item in enumerate(eligible, start=1):
            call = all_calls()[item["id"]]
            lines.append(
                f"\n{number}. <b>{escape(call.name(ctx.t.language))}</b> – "
                f"{escape(call.funder)}\n<i>{call_reasons(ctx, item)}</i>"
            )
            buttons.append(ctx.button(str(number), item["id"]))
        lines.append("\n" + ctx._("Not sure? The staff can choose for you."))
        return Reply("\n".join(lines), [*rows(buttons, 5), [staff]])

    async def on_text(self, ctx: Context, text: str) -> Outcome:
        raise Invalid(ctx._("Please choose with the buttons below."))

    async def on_button(self, ctx: Context, value: str) -> Outcome:
        if value == "staff":
            ctx.draft["call"] = None
            return advance()
        if value not in {item["id"] for item in ctx.draft.get("_calls", [])}:
            raise Invalid(ctx._("Please choose with the buttons below."))
        ctx.draft["call"] = value
        return advance(notice="✓ " + escape(all_calls()[value].name(ctx.t.language)))

    def next(self, ctx: Context) -> str:
        return "contact_name"


class ContactNameStep(Step):
    name = "contact_name"
    progress = 10

    def prompt(self, ctx: Context) -> Reply:
        return Reply(
            header(ctx, self)
            + ctx._(
                "Almost done. What <b>name</b> should the staff use when they answer you? "
                "This is optional."
            ),
            [[ctx.button(ctx._("Skip"), "skip")]],
        )

    async def on_text(self, ctx: Context, text: str) -> Outcome:
        try:
            ctx.draft["contact_name"] = parse_name(text)
        except ParseError as error:
            raise Invalid(parse_error_message(ctx, error)) from None
        return advance()

    async def on_button(self, ctx: Context, value: str) -> Outcome:
        ctx.draft["contact_name"] = None
        return advance()

    def next(self, ctx: Context) -> str:
        return "contact"


class ContactStep(Step):
    name = "contact"
    progress = 10

    def prompt(self, ctx: Context) -> Reply:
        return Reply(
            header(ctx, self)
            + ctx._(
                "An <b>e-mail address</b> or a <b>phone number</b> where the staff can reach "
                "you? Optional too: they can always answer you here.\n"
                "<i>For example: name@example.be or 0470 12 34 56</i>"
            ),
            [[ctx.button(ctx._("Skip"), "skip")]],
        )

    async def on_text(self, ctx: Context, text: str) -> Outcome:
        try:
            kind, value = parse_contact(text)
        except ParseError as error:
            raise Invalid(parse_error_message(ctx, error)) from None
        ctx.draft["contact_email"] = value if kind == "email" else None
        ctx.draft["contact_phone"] = value if kind == "phone" else None
        return advance(notice="✓ " + escape(value))

    async def on_button(self, ctx: Context, value: str) -> Outcome:
        ctx.draft["contact_email"] = ctx.draft["contact_phone"] = None
        return advance()

    def next(self, ctx: Context) -> str:
        return "consent_contact"


class ConsentStep(Step):
    progress = 10
    field = ""

    def question(self, ctx: Context) -> str:
        raise NotImplementedError

    def prompt(self, ctx: Context) -> Reply:
        return Reply(
            header(ctx, self) + self.question(ctx),
            [[ctx.button(ctx._("✅ Yes"), "yes"), ctx.button(ctx._("No"), "no")]],
        )

    async def on_button(self, ctx: Context, value: str) -> Outcome:
        if value not in ("yes", "no"):
            raise Invalid(ctx._("Please answer with the buttons below."))
        ctx.draft[self.field] = value == "yes"
        return advance()


class ConsentContactStep(ConsentStep):
    name = "consent_contact"
    field = "consent_contact"

    def question(self, ctx: Context) -> str:
        return ctx._("May the staff <b>contact you</b> about this proposal?")

    def next(self, ctx: Context) -> str:
        return "consent_share"


class ConsentShareStep(ConsentStep):
    name = "consent_share"
    field = "consent_share"

    def skip(self, ctx: Context) -> bool:
        has_contact = any(
            ctx.draft.get(key) for key in ("contact_name", "contact_email", "contact_phone")
        )
        if not has_contact:
            ctx.draft[self.field] = False
        return not has_contact

    def question(self, ctx: Context) -> str:
        return ctx._(
            "May we <b>share your name and contact</b> with the coaches and the similar "
            "initiatives, so that they can get in touch with you? You can say no: your "
            "proposal is handled the same way."
        )

    def next(self, ctx: Context) -> str:
        return "review"


REVIEW_FIELDS: dict[str, tuple[str, str]] = {
    # button value: (label, step to edit)
    "title": (N_("Title"), "title"),
    "description": (N_("Description"), "description"),
    "where": (N_("Place"), "where"),
    "carrier": (N_("Carried by"), "carrier"),
    "partners": (N_("Partners"), "partners"),
    "themes": (N_("Themes"), "themes"),
    "budget": (N_("Budget"), "budget"),
    "call": (N_("Call"), "call"),
    "contact": (N_("Contact"), "contact_name"),
}


class ReviewStep(Step):
    name = "review"
    progress = 11

    async def enter(self, ctx: Context) -> None:
        """An edit (budget, place, carrier, themes) may rule out the chosen call."""
        call = ctx.draft.get("call")
        if call and call not in {item["id"] for item in eligible_for(ctx.draft)}:
            ctx.draft["call"] = None

    def prompt(self, ctx: Context) -> Reply:
        d = ctx.draft
        budget = d.get("budget_cents")
        contact = [d.get("contact_name"), d.get("contact_email"), d.get("contact_phone")]
        yes, no = ctx._("yes"), ctx._("no")
        values = {
            "title": escape(d.get("title", "")),
            "description": escape(shorten(d.get("description", ""), REVIEW_DESCRIPTION_LENGTH)),
            "where": escape(place_summary(ctx)),
            "carrier": ctx._(ACTOR_KINDS.get(d.get("carrier", ""), "—")),
            "partners": choices_summary(ctx, d.get("partners", []), ACTOR_KINDS),
            "themes": ", ".join(theme_label(t, ctx.t.language) for t in d.get("themes", [])) or "—",
            "budget": ctx.t.money(budget) if budget else ctx._("not known yet"),
            "call": escape(all_calls()[d["call"]].name(ctx.t.language))
            if d.get("call")
            else ctx._("the staff will choose"),
            "contact": escape(", ".join(c for c in contact if c) or "—"),
        }
        # French puts a space before the colon: the line's shape is translated too.
        field_line = ctx._("<b>{label}</b>: {value}")
        lines = [header(ctx, self) + ctx._("<b>Please check your proposal:</b>"), ""]
        for key, (label, _step) in REVIEW_FIELDS.items():
            lines.append(field_line.format(label=ctx._(label), value=values[key]))
        for label, consent in (
            (ctx._("Staff may contact you"), d.get("consent_contact")),
            (ctx._("Contact shared with coaches"), d.get("consent_share")),
        ):
            lines.append(field_line.format(label=label, value=yes if consent else no))
        lines += ["", ctx._("Tap a field to change it, or submit.")]
        edit = [
            ctx.button("✏️ " + ctx._(label), key) for key, (label, _step) in REVIEW_FIELDS.items()
        ]
        submit = ctx.button(ctx._("📨 Submit my proposal"), "submit")
        return Reply("\n".join(lines), [*rows(edit, 2), [submit]])

    async def on_text(self, ctx: Context, text: str) -> Outcome:
        raise Invalid(ctx._("Tap a field to change it, or “Submit my proposal”."))

    async def on_button(self, ctx: Context, value: str) -> Outcome:
        if value == "submit":
            ctx.draft["_reference"] = await ctx.services.submit(new_proposal(ctx), ctx.draft)
            return advance()
        if value in REVIEW_FIELDS:
            ctx.draft["_editing"] = True
            return goto(REVIEW_FIELDS[value][1])
        raise Invalid(ctx._("Please choose with the buttons below."))

    def next(self, ctx: Context) -> str:
        return "done"


class DoneStep(Step):
    name = "done"

    def prompt(self, ctx: Context) -> Reply:
        return Reply(
            ctx._(
                "🎉 <b>Thank you!</b> Your proposal is registered under the reference "
                "<b>{reference}</b>.\n\nWhat happens next: the staff read every proposal and "
                "will answer you here, in this chat. Coaches who follow similar initiatives may "
                "also get in touch.\n\n/status shows your proposals, /new starts another one."
            ).format(reference=escape(ctx.draft.get("_reference", "")))
        )

    async def on_text(self, ctx: Context, text: str) -> Outcome:
        """When the staff asked for more information, this message is the answer."""
        reference = await ctx.services.attach_reply(text.strip()[:3000]) if text.strip() else None
        if reference is None:
            raise Invalid(ctx._("Your proposal is already submitted."))
        return goto(
            self.name,
            notice="✓ "
            + ctx._(
                "Thank you: your answer was added to proposal {reference}. The staff will read it."
            ).format(reference=escape(reference)),
        )

    def next(self, ctx: Context) -> str:
        return "done"


def new_proposal(ctx: Context) -> NewProposal:
    d = ctx.draft
    return NewProposal(
        submission_key=f"chat{ctx.services.chat_id}-{d['_draft_id']}",
        language=ctx.t.language,
        title=d["title"],
        description=d["description"],
        carrier=d["carrier"],
        commune_refnis=d.get("commune"),
        region_wide=bool(d.get("region_wide")),
        latitude=d.get("latitude"),
        longitude=d.get("longitude"),
        partners=list(d.get("partners", [])),
        themes=list(d.get("themes", [])),
        similar=d.get("similar"),
        budget_cents=d.get("budget_cents"),
        call_id=d.get("call"),
        contact_name=d.get("contact_name"),
        contact_email=d.get("contact_email"),
        contact_phone=d.get("contact_phone"),
        consent_contact=bool(d.get("consent_contact")),
        consent_share=bool(d.get("consent_share")),
    )


def new_draft() -> dict[str, Any]:
    return {"_draft_id": uuid.uuid4().hex[:16], "_history": []}


STEPS: dict[str, Step] = {
    step.name: step
    for step in (
        LanguageStep(),
        WelcomeStep(),
        TitleStep(),
        DescriptionStep(),
        WhereStep(),
        WhereConfirmStep(),
        WhereListStep(),
        CarrierStep(),
        PartnersStep(),
        ThemesStep(),
        SimilarStep(),
        BudgetStep(),
        CallStep(),
        ContactNameStep(),
        ContactStep(),
        ConsentContactStep(),
        ConsentShareStep(),
        ReviewStep(),
        DoneStep(),
    )
}
