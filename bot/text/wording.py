"""Proposal fields in words, in a reader's language: for staff pages and staff/coach messages.

Shared by the back-office and the messages the bot sends on its own (staff group, coaches),
so that both describe a proposal the same way.
"""

from __future__ import annotations

from bot.text.i18n import Translator
from bot.text.labels import concept_label
from matching.calls import all_calls
from matching.communes import commune_by_refnis
from matching.themes import theme_label
from storage.models import Proposal


def commune_name(t: Translator, proposal: Proposal) -> str:
    if proposal.region_wide:
        return t.gettext("Whole region")
    if not proposal.commune_refnis:
        return "—"
    try:
        return commune_by_refnis(proposal.commune_refnis).name(t.language)
    except KeyError:
        return proposal.commune_refnis


def themes_text(t: Translator, themes: list[str]) -> str:
    labels = []
    for theme in themes:
        try:
            labels.append(theme_label(theme, t.language))
        except KeyError:
            labels.append(theme)
    return ", ".join(labels)


def call_name(t: Translator, call_id: str | None) -> str:
    if not call_id:
        return t.gettext("Left to the staff")
    call = all_calls().get(call_id)
    return call.name(t.language) if call else call_id


def reason_text(t: Translator, code: str) -> str:
    """A matcher reason code (`same_commune`, `shared_concepts:compost`) in plain words."""
    kind, _sep, values = code.partition(":")
    items = [v for v in values.split(",") if v]
    if kind == "same_commune":
        return t.gettext("same commune")
    if kind == "nearby_commune" and items:
        try:
            commune = commune_by_refnis(items[0]).name(t.language)
        except KeyError:
            commune = items[0]
        return t.gettext("close by, in {commune}").format(commune=commune)
    if kind == "shared_themes" and items:
        return t.gettext("both about {topics}").format(topics=themes_text(t, items).lower())
    if kind == "shared_concepts" and items:
        labels = ", ".join(concept_label(c, t.language) for c in items)
        return t.gettext("both mention {topics}").format(topics=labels)
    if kind == "similar_words" and items:
        return t.gettext("similar words: {words}").format(words=", ".join(items))
    return code


def money(t: Translator, cents: int | None) -> str:
    return "—" if cents is None else t.money(cents)
