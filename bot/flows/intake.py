"""The citizen intake conversation, top to bottom (DESIGN.md section 4).

language → welcome → title → description → where → carrier → partners → themes →
similar → budget → call → contact → review → done. Each step stores what it parsed in
the draft; `review` lets the citizen edit any field and come back.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from bot.flows.base import (
    BUTTON_WIDTH,
    Button,
    Context,
    Invalid,
    Outcome,
    Reply,
    Step,
    advance,
    goto,
    rows,
    stay,
)
from bot.text.i18n import LANGUAGE_NAMES, LANGUAGES, N_
from bot.text.labels import ACTOR_KINDS, CARRIER_CHOICES, PARTNER_CHOICES, concept_label
from bot.text.markup import escape, shorten
from bot.text.parsers import (
    ParseError,
    ParseErrorCode,
    display_phone,
    parse_budget,
    parse_contact,
    parse_description,
    parse_name,
    parse_title,
)
from matching.calls import (
    Miss,
    ProposalFacts,
    all_calls,
    eligible_calls,
    near_misses,
)
from matching.communes import (
    commune_by_refnis,
    communes_for_postcode,
    find_commune,
    nearest_commune,
    sorted_for_language,
)
from matching.themes import theme_choices, theme_ids, theme_label
from storage.clock import brussels_today
from storage.proposals import NewProposal

TOTAL_STEPS = 11
MAX_THEMES = 3
EXAMPLE_BUDGET_CENTS = 250_000
"""The amount the budget question shows as an example, in the citizen's number format."""
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
            "I could not read an amount in euros. Write a number, for example 2500 or {amount}."
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
    values = dict(p, amount=ctx.t.money(EXAMPLE_BUDGET_CENTS))
    if "maximum_cents" in values:
        values["maximum"] = ctx.t.money(int(str(values["maximum_cents"])))
    return messages[error.code].format(**values)


CONTACT_QUESTIONS = ("contact_name", "contact", "consent_contact", "consent_share")
"""Step 10 is four short questions; the counter says which one."""


def header(ctx: Context, step: Step) -> str:
    if step.progress is None:
        return ""
    if step.name in CONTACT_QUESTIONS:
        questions = len(CONTACT_QUESTIONS)
        if step.name == "consent_contact" and not has_contact(ctx.draft):
            questions -= 1  # nothing to share: the last question will not be asked
        counter = ctx._("Step {number} of {total} · question {part} of {parts}").format(
            number=step.progress,
            total=TOTAL_STEPS,
            part=CONTACT_QUESTIONS.index(step.name) + 1,
            parts=questions,
        )
    else:
        counter = ctx._("Step {number} of {total}").format(number=step.progress, total=TOTAL_STEPS)
    return f"<i>{counter}</i>\n"


def has_contact(draft: dict[str, Any]) -> bool:
    return any(draft.get(key) for key in ("contact_name", "contact_email", "contact_phone"))


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


def with_other(summary: str, other: str | None) -> str:
    """ "Other (a youth club)": the citizen's words after the label, escaped."""
    return escape(summary) + (f" ({escape(other)})" if other else "")


class LanguageStep(Step):
    name = "language"

    def prompt(self, ctx: Context) -> Reply:
        text = "Choisissez votre langue · Kies je taal · Choose your language"
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
        target = str(ctx.draft.pop("_return", None) or "welcome")
        # After a proposal, the thank-you would read as a second submission.
        return "idle" if target == "done" else target


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
        text += (
            "\n\n<i>"
            + ctx._(
                "{steps} steps, most of them a tap on a button; ◀ Back returns to the previous "
                "question."
            ).format(steps=TOTAL_STEPS)
            + "</i>"
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
                [ctx.button(ctx._("📋 List of communes"), "list")],
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
        ctx.draft.pop("_commune_page", None)
        ctx.draft["commune"] = refnis
        ctx.draft["region_wide"] = False
        return goto("carrier", notice="✓ " + escape(commune_label(ctx, refnis)))

    def next(self, ctx: Context) -> str:
        return "carrier"


class WhereConfirmStep(Step):
    name = "where_confirm"
    progress = 3
    back_to = "where"

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


COMMUNES_PER_PAGE = 5
"""Communes shown at once, one per row: long names fit a phone, and with the page turn, the
whole region and Back the column stays at eight buttons."""


class WhereListStep(Step):
    name = "where_list"
    progress = 3
    back_to = "where"

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
        pages = max(1, -(-len(communes) // COMMUNES_PER_PAGE))
        page = min(int(ctx.draft.get("_commune_page", 0)), pages - 1)
        shown = communes[page * COMMUNES_PER_PAGE : (page + 1) * COMMUNES_PER_PAGE]
        buttons = [[ctx.button(commune_button(ctx, c.refnis), c.refnis)] for c in shown]
        turn = []
        if page > 0:
            turn.append(ctx.button(ctx._("⬅ Previous"), "page:previous"))
        if page < pages - 1:
            turn.append(ctx.button(ctx._("More ➡"), "page:next"))
        if turn:
            buttons.append(turn)
        buttons.append([ctx.button(ctx._("🌍 The whole region"), "region")])
        return Reply(text, buttons)

    async def on_text(self, ctx: Context, text: str) -> Outcome:
        return await WhereStep().on_text(ctx, text)

    async def on_button(self, ctx: Context, value: str) -> Outcome:
        if value in ("page:previous", "page:next"):
            page = int(ctx.draft.get("_commune_page", 0))
            ctx.draft["_commune_page"] = max(0, page + (1 if value == "page:next" else -1))
            return stay()
        ctx.draft.pop("_candidates", None)
        ctx.draft.pop("_commune_page", None)
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


def commune_button(ctx: Context, refnis: str) -> str:
    """A commune's name for a button: the English two-language form when it fits, else
    the French one ("Berchem-Sainte-Agathe / Sint-Agatha-Berchem" does not)."""
    commune = commune_by_refnis(refnis)
    name = commune.name(ctx.t.language)
    return name if len(name) <= BUTTON_WIDTH else commune.name_fr


class CarrierStep(Step):
    name = "carrier"
    progress = 4

    def prompt(self, ctx: Context) -> Reply:
        text = header(ctx, self) + ctx._("<b>Who would carry</b> the project?")
        return Reply(
            text,
            rows([ctx.button(ctx._(label), key) for key, label in CARRIER_CHOICES.items()], 1),
        )

    async def on_button(self, ctx: Context, value: str) -> Outcome:
        if value not in CARRIER_CHOICES:
            raise Invalid(ctx._("Please choose with the buttons below."))
        ctx.draft["carrier"] = value
        if value == "other":
            return goto("carrier_other")
        ctx.draft.pop("carrier_other", None)
        return advance(notice="✓ " + ctx._(CARRIER_CHOICES[value]))

    def next(self, ctx: Context) -> str:
        return "partners"


class OtherStep(Step):
    """ "Other" was chosen: a few words say which, so that the staff do not read "Other"
    alone."""

    field = ""

    def question(self, ctx: Context) -> str:
        raise NotImplementedError

    def prompt(self, ctx: Context) -> Reply:
        return Reply(header(ctx, self) + self.question(ctx))

    async def on_text(self, ctx: Context, text: str) -> Outcome:
        try:
            ctx.draft[self.field] = parse_name(text)
        except ParseError as error:
            raise Invalid(parse_error_message(ctx, error)) from None
        return advance(notice="✓ " + escape(ctx.draft[self.field]))


class CarrierOtherStep(OtherStep):
    name = "carrier_other"
    progress = 4
    back_to = "carrier"
    field = "carrier_other"

    def question(self, ctx: Context) -> str:
        return ctx._(
            "Who would carry it? A few words, for example: a youth club, a tenants’ committee."
        )

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
            ctx.button(("✅ " if key in chosen else "") + label, key)
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
        return {key: ctx._(label) for key, label in PARTNER_CHOICES.items()}

    def question(self, ctx: Context) -> str:
        return ctx._(
            "Who else would take part? Projects that bring together citizens, associations, "
            "schools, businesses and the commune are the most welcome. Tick all that apply."
        )

    async def on_text(self, ctx: Context, text: str) -> Outcome:
        raise Invalid(ctx._("Tick the partners with the buttons, then press the last button."))

    async def on_button(self, ctx: Context, value: str) -> Outcome:
        outcome = await super().on_button(ctx, value)
        if value == "done" and "other" in ctx.draft["partners"]:
            return goto("partners_other")
        if value == "done":
            ctx.draft.pop("partners_other", None)
        return outcome

    def next(self, ctx: Context) -> str:
        return "themes"


class PartnersOtherStep(OtherStep):
    name = "partners_other"
    progress = 5
    back_to = "partners"
    field = "partners_other"

    def question(self, ctx: Context) -> str:
        return ctx._("Which other partners? A few words, for example: the parish, a sports club.")

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
            # Encoding the text takes tens of milliseconds: not in the event loop.
            choices = await asyncio.to_thread(theme_choices, text, ctx.t.language)
            ctx.draft["themes"] = choices.ticked
            ctx.draft["_themes_suggested"] = bool(choices.ticked)
            ctx.draft["_themes_offered"] = choices.offered

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
        offered = [
            theme_label(theme, ctx.t.language)
            for theme in ctx.draft.get("_themes_offered", [])
            if theme not in ctx.draft.get("themes", [])
        ]
        if offered:
            question += "\n" + ctx.t.ngettext(
                "<i>Your idea may also be about {themes}: tick it if so.</i>",
                "<i>Your idea may also be about {themes}: tick them if so.</i>",
                len(offered),
            ).format(themes=ctx.t.either(offered))
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
        elif kind == "similar_idea":
            parts.append(ctx._("a similar idea, in other words"))
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

    def skip_notice(self, ctx: Context) -> str | None:
        return (
            "<i>"
            + ctx._(
                "Step {number}, similar initiatives: none is close to your idea, so we go on."
            ).format(number=self.progress)
            + "</i>"
        )

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
                label = ctx._("Put me in touch with {number}").format(number=number)
                connect.append(ctx.button(label, "c" + item["id"]))
        different = ctx.button(ctx._("Mine is different ➡"), "different")
        return Reply("\n".join(lines), [*rows(connect, 1), [different]])

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
        example = ctx.t.money(EXAMPLE_BUDGET_CENTS)
        short = ctx.t.number(EXAMPLE_BUDGET_CENTS / 100_000) + "k"
        return Reply(
            header(ctx, self)
            + ctx._(
                "Roughly what <b>budget in euros</b> would it need? For example: {plain}, "
                "{amount} or {short}. A rough estimate is fine."
            ).format(plain=EXAMPLE_BUDGET_CENTS // 100, amount=example, short=short),
            [[ctx.button(ctx._("I don't know yet"), "unknown")]],
        )

    async def on_text(self, ctx: Context, text: str) -> Outcome:
        try:
            budget = parse_budget(text, ctx.t.language)
        except ParseError as error:
            raise Invalid(parse_error_message(ctx, error)) from None
        if budget.is_range:
            ctx.draft["_budget_range"] = [budget.low_cents, budget.high_cents]
            return goto("budget_range")
        ctx.draft.pop("_budget_range", None)
        ctx.draft["budget_cents"] = budget.low_cents
        return advance(notice="✓ " + ctx.t.money(budget.low_cents))

    async def on_button(self, ctx: Context, value: str) -> Outcome:
        if value != "unknown":
            raise Invalid(ctx._("Please write an amount in euros."))
        ctx.draft["budget_cents"] = None
        return advance()

    def next(self, ctx: Context) -> str:
        return "call"


class BudgetRangeStep(BudgetStep):
    """A range was written ("entre 2000 et 3000"): which end should the proposal say?"""

    name = "budget_range"
    back_to = "budget"

    def prompt(self, ctx: Context) -> Reply:
        low, high = ctx.draft.get("_budget_range") or [0, 0]
        return Reply(
            header(ctx, self)
            + ctx._(
                "Between {low} and {high}: which amount should your proposal give? Each call "
                "funds up to a ceiling, so if you are unsure, the higher one is safer. You can "
                "also write another amount."
            ).format(low=ctx.t.money(low), high=ctx.t.money(high)),
            [[ctx.button(ctx.t.money(low), "low"), ctx.button(ctx.t.money(high), "high")]],
        )

    async def on_button(self, ctx: Context, value: str) -> Outcome:
        low, high = ctx.draft.get("_budget_range") or [None, None]
        chosen = {"low": low, "high": high}.get(value)
        if chosen is None:
            raise Invalid(ctx._("Please choose with the buttons below."))
        ctx.draft.pop("_budget_range")
        ctx.draft["budget_cents"] = chosen
        return advance(notice="✓ " + ctx.t.money(chosen))


def proposal_facts(draft: dict[str, Any]) -> ProposalFacts:
    return ProposalFacts(
        commune=draft.get("commune"),
        region_wide=bool(draft.get("region_wide")),
        carrier=draft.get("carrier"),
        themes=tuple(draft.get("themes", [])),
        budget_cents=draft.get("budget_cents"),
    )


def eligible_for(draft: dict[str, Any]) -> list[dict[str, Any]]:
    today = brussels_today()
    return [
        {"id": e.call.id, "reasons": list(e.reasons)}
        for e in eligible_calls(proposal_facts(draft), today)
    ]


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


MISS_STEPS = {
    "budget_high": "budget",
    "budget_low": "budget",
    "carrier": "carrier",
    "themes": "themes",
    "commune": "where",
}
"""The question to go back to for each answer that keeps a call out."""


def lowercase_first(label: str) -> str:
    return label[:1].lower() + label[1:]


def miss_line(ctx: Context, miss: Miss) -> str:
    """Why one answer keeps a call out, and what would let it in, in one sentence."""
    call, language = miss.call, ctx.t.language
    values = {
        "call": call.name(language),
        "budget": ctx.t.money(ctx.draft.get("budget_cents") or 0),
    }
    if miss.why == "budget_high":
        text = ctx._("{call} funds up to {maximum}, and your budget is {budget}.")
        values["maximum"] = ctx.t.money(call.budget_max_cents)
    elif miss.why == "budget_low":
        text = ctx._("{call} funds projects from {minimum}, and your budget is {budget}.")
        values["minimum"] = ctx.t.money(call.budget_min_cents)
    elif miss.why == "carrier":
        text = ctx._("{call} is for {carriers}.")
        values["carriers"] = ", ".join(
            lowercase_first(ctx._(label))
            for key, label in ACTOR_KINDS.items()
            if key in call.carriers
        )
    elif miss.why == "themes":
        text = ctx._("{call} funds only {themes}.")
        values["themes"] = ", ".join(
            theme_label(theme, language).lower() for theme in theme_ids() if theme in call.themes
        )
    else:
        text = ctx._("{call} is only for {communes}.")
        values["communes"] = ", ".join(
            sorted(commune_label(ctx, refnis) for refnis in call.communes)
        )
    return escape(text.format(**values))


MISS_BUTTONS = {
    "budget": N_("✏️ Change the budget"),
    "carrier": N_("✏️ Change who carries it"),
    "themes": N_("✏️ Change the themes"),
    "where": N_("✏️ Change the place"),
}


class CallStep(Step):
    """The calls the proposal is eligible for, best first, and "let the staff decide"; when
    none fits, which answer keeps each call out, and buttons to change it."""

    name = "call"
    progress = 9

    async def enter(self, ctx: Context) -> None:
        ctx.draft["_calls"] = eligible_for(ctx.draft)

    def prompt(self, ctx: Context) -> Reply:
        eligible = ctx.draft.get("_calls", [])
        staff = ctx.button(ctx._("Let the staff decide"), "staff")
        if not eligible:
            return self._nothing_fits(ctx, staff)
        lines = [
            header(ctx, self)
            + ctx._("<b>Which call</b> should your proposal go to? These fit, best first:")
        ]
        buttons = []
        for number, item in enumerate(eligible, start=1):
            call = all_calls()[item["id"]]
            lines.append(
                f"\n{number}. <b>{escape(call.name(ctx.t.language))}</b> – "
                f"{escape(call.funder(ctx.t.language))}\n<i>{call_reasons(ctx, item)}</i>"
            )
            buttons.append(ctx.button(str(number), item["id"]))
        lines.append("\n" + ctx._("Not sure? The staff can choose for you."))
        return Reply("\n".join(lines), [*rows(buttons, 5), [staff]])

    def _nothing_fits(self, ctx: Context, staff: Button) -> Reply:
        misses = near_misses(proposal_facts(ctx.draft), brussels_today())
        text = header(ctx, self) + ctx._(
            "No open call fits all the answers you gave, but the staff know other ways to "
            "help. They will look at your proposal and tell you."
        )
        if not misses:
            return Reply(text, [[staff]])
        lines = [text, "", ctx._("What keeps each call out:")]
        lines += ["• " + miss_line(ctx, miss) for miss in misses]
        lines += ["", ctx._("Change that answer, or let the staff decide.")]
        fixes = dict.fromkeys(MISS_STEPS[miss.why] for miss in misses)
        buttons = [[ctx.button(ctx._(MISS_BUTTONS[step]), "fix:" + step)] for step in fixes]
        return Reply("\n".join(lines), [*buttons, [staff]])

    async def on_text(self, ctx: Context, text: str) -> Outcome:
        raise Invalid(ctx._("Please choose with the buttons below."))

    async def on_button(self, ctx: Context, value: str) -> Outcome:
        if value == "staff":
            ctx.draft["call"] = None
            return advance()
        if value.removeprefix("fix:") in MISS_BUTTONS:
            ctx.draft["_editing"] = self.name  # once that answer is given, back to the calls
            return goto(value.removeprefix("fix:"))
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
        return advance(notice="✓ " + escape(display_phone(value) if kind == "phone" else value))

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
        if not has_contact(ctx.draft):
            ctx.draft[self.field] = False
            return True
        return False

    def question(self, ctx: Context) -> str:
        return ctx._(
            "May we <b>share your name and contact</b> with the coaches and the similar "
            "initiatives, so that they can get in touch with you? You can say no: your "
            "proposal is handled the same way."
        )

    def next(self, ctx: Context) -> str:
        return "connect_consent"


def wants_contact_without_consent(draft: dict[str, Any]) -> bool:
    """Asked to be put in touch with a similar initiative, but not to share the contact
    details that would let it reach them."""
    similar = draft.get("similar") or {}
    return similar.get("choice") == "connect" and not draft.get("consent_share")


class ConnectConsentStep(Step):
    """One clear question when the wish to be put in touch and the consent disagree."""

    name = "connect_consent"
    progress = 10

    def skip(self, ctx: Context) -> bool:
        return not wants_contact_without_consent(ctx.draft)

    def prompt(self, ctx: Context) -> Reply:
        name = escape((ctx.draft.get("similar") or {}).get("name") or "")
        decline = ctx.button(ctx._("Don't put me in touch"), "decline")
        if has_contact(ctx.draft):
            text = ctx._(
                "You asked to be put in touch with <b>{name}</b>, but not to share your name "
                "and contact details: without them, they cannot reach you. Share them with "
                "{name} and the coaches?"
            )
            agree = ctx.button(ctx._("✅ Yes, share them"), "share")
        else:
            text = ctx._(
                "You asked to be put in touch with <b>{name}</b>, but gave no name or contact "
                "details: without them, they cannot reach you."
            )
            agree = ctx.button(ctx._("✏️ Give my contact details"), "contact")
        return Reply(header(ctx, self) + text.format(name=name), [[agree], [decline]])

    async def on_button(self, ctx: Context, value: str) -> Outcome:
        if value == "share":
            ctx.draft["consent_share"] = True
            return advance()
        if value == "contact":
            return goto("contact_name")
        if value == "decline":
            ctx.draft["similar"] = {**ctx.draft["similar"], "choice": "no_contact"}
            return advance()
        raise Invalid(ctx._("Please answer with the buttons below."))

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
    "similar": (N_("Put in touch"), "similar"),
}


class ReviewStep(Step):
    name = "review"
    progress = 11

    async def enter(self, ctx: Context) -> None:
        """An edit (budget, place, carrier, themes) may rule out the chosen call: it is
        dropped, and the review says so once (`_dropped_call`)."""
        call = ctx.draft.get("call")
        if call and call not in {item["id"] for item in eligible_for(ctx.draft)}:
            ctx.draft["call"] = None
            ctx.draft["_dropped_call"] = call

    def dropped_call_notice(self, ctx: Context) -> str:
        dropped = all_calls().get(ctx.draft.get("_dropped_call", ""))
        if dropped is None:
            return ""
        facts = proposal_facts(ctx.draft)
        misses = [m for m in near_misses(facts, brussels_today()) if m.call.id == dropped.id]
        why = (" " + miss_line(ctx, misses[0])) if misses else ""
        fitting = len(eligible_for(ctx.draft))
        then = (
            ctx.t.ngettext(
                "{count} other call fits: tap “Call” to choose it.",
                "{count} other calls fit: tap “Call” to choose one.",
                fitting,
            ).format(count=fitting)
            if fitting
            else ctx._("No call fits now: the staff will choose, or you can change an answer.")
        )
        return (
            "⚠️ "
            + ctx._("With this change, your proposal no longer fits “{call}”.").format(
                call=escape(dropped.name(ctx.t.language))
            )
            + why
            + " "
            + then
            + "\n\n"
        )

    def prompt(self, ctx: Context) -> Reply:
        d = ctx.draft
        budget = d.get("budget_cents")
        phone = d.get("contact_phone")
        contact = [d.get("contact_name"), d.get("contact_email"), phone and display_phone(phone)]
        yes, no = ctx._("yes"), ctx._("no")
        values = {
            "title": escape(d.get("title", "")),
            "description": escape(shorten(d.get("description", ""), REVIEW_DESCRIPTION_LENGTH)),
            "where": escape(place_summary(ctx)),
            "carrier": with_other(
                ctx._(CARRIER_CHOICES.get(d.get("carrier", ""), "—")), d.get("carrier_other")
            ),
            "partners": with_other(
                choices_summary(ctx, d.get("partners", []), ACTOR_KINDS), d.get("partners_other")
            ),
            "themes": ", ".join(theme_label(t, ctx.t.language) for t in d.get("themes", [])) or "—",
            "budget": ctx.t.money(budget) if budget else ctx._("not known yet"),
            "call": escape(all_calls()[d["call"]].name(ctx.t.language))
            if d.get("call")
            else ctx._("the staff will choose"),
            "contact": escape(", ".join(c for c in contact if c) or "—"),
            "similar": escape(connect_summary(ctx)),
        }
        # French puts a space before the colon: the line's shape is translated too.
        field_line = ctx._("<b>{label}</b>: {value}")
        lines = [
            header(ctx, self)
            + self.dropped_call_notice(ctx)
            + ctx._("<b>Please check your proposal:</b>"),
            "",
        ]
        fields = {key: field for key, field in REVIEW_FIELDS.items() if key != "similar"}
        if d.get("_similar"):  # the similar initiatives were shown: the choice can change
            fields["similar"] = REVIEW_FIELDS["similar"]
        for key, (label, _step) in fields.items():
            lines.append(field_line.format(label=ctx._(label), value=values[key]))
        for label, consent in (
            (ctx._("Staff may contact you"), d.get("consent_contact")),
            (ctx._("Contact shared with coaches"), d.get("consent_share")),
        ):
            lines.append(field_line.format(label=label, value=yes if consent else no))
        if wants_contact_without_consent(d):
            lines += [
                "",
                "⚠️ "
                + ctx._(
                    "You asked to be put in touch, but your contact details are not shared: "
                    "change “Put in touch” or “Contact”."
                ),
            ]
        lines += ["", ctx._("Tap a field to change it, or submit.")]
        edit = [ctx.button("✏️ " + ctx._(label), key) for key, (label, _step) in fields.items()]
        submit = ctx.button(ctx._("📨 Submit my proposal"), "submit")
        return Reply("\n".join(lines), [*rows(edit, 2), [submit]])

    async def on_text(self, ctx: Context, text: str) -> Outcome:
        raise Invalid(ctx._("Tap a field to change it, or “Submit my proposal”."))

    async def on_button(self, ctx: Context, value: str) -> Outcome:
        ctx.draft.pop("_dropped_call", None)  # said once
        if value == "submit":
            ctx.draft["_reference"] = await ctx.services.submit(new_proposal(ctx), ctx.draft)
            return advance()
        if value in REVIEW_FIELDS:
            ctx.draft["_editing"] = self.name
            return goto(REVIEW_FIELDS[value][1])
        raise Invalid(ctx._("Please choose with the buttons below."))

    def next(self, ctx: Context) -> str:
        return "done"


def connect_summary(ctx: Context) -> str:
    similar = ctx.draft.get("similar") or {}
    if similar.get("choice") == "connect":
        return str(similar.get("name") or "—")
    return ctx._("no")


class DoneStep(Step):
    name = "done"

    def prompt(self, ctx: Context) -> Reply:
        """Promises only the contact the citizen's consent allows."""
        d = ctx.draft
        if d.get("consent_share") and (d.get("similar") or {}).get("choice") == "connect":
            others = ctx._(
                "We pass on your wish to be put in touch with {name}, with your contact "
                "details; coaches who follow similar initiatives may also get in touch."
            ).format(name=escape(d["similar"].get("name") or ""))
        elif d.get("consent_share"):
            others = ctx._("Coaches who follow similar initiatives may also get in touch.")
        else:
            others = ctx._("Your contact details stay with the staff.")
        return Reply(
            ctx._(
                "🎉 <b>Thank you!</b> Your proposal is registered under the reference "
                "<b>{reference}</b>.\n\nWhat happens next: the staff read every proposal and "
                "will answer you here, in this chat. {others}\n\n/status shows your proposals, "
                "/new starts another one."
            ).format(reference=escape(d.get("_reference", "")), others=others)
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
        carrier_other=d.get("carrier_other") if d["carrier"] == "other" else None,
        partners_other=d.get("partners_other") if "other" in d.get("partners", []) else None,
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
        CarrierOtherStep(),
        PartnersStep(),
        PartnersOtherStep(),
        ThemesStep(),
        SimilarStep(),
        BudgetStep(),
        BudgetRangeStep(),
        CallStep(),
        ContactNameStep(),
        ContactStep(),
        ConsentContactStep(),
        ConsentShareStep(),
        ConnectConsentStep(),
        ReviewStep(),
        DoneStep(),
    )
}
