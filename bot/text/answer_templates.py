"""Answer templates in words: their placeholders filled for one proposal, in its citizen's
language (issue 14 §4).

A template's text may name four placeholders, and only these: {first_name} (the first word
of the name the citizen gave), {reference}, {title} and {call} (the proposal's call, named
in the citizen's language). Nothing else is looked up: this is not `str.format`, so
`{title.__class__}` or `{0}` cannot reach anything. A word in braces that is not a
placeholder is refused when the template is saved (`unknown_placeholders`); any other brace
(`{ }`, `{1}`, a lone `{`) is ordinary text and stays as written.

Without a first name (the citizen gave none, or it was erased), {first_name} leaves no
hole: it goes with the spaces before it, so "Bonjour {first_name}," reads "Bonjour,".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from bot.text.i18n import LANGUAGES, N_, Translator
from bot.text.wording import call_name
from matching.calls import all_calls
from storage.models import AnswerTemplate, Proposal

PLACEHOLDERS: tuple[str, ...] = ("first_name", "reference", "title", "call")

_PLACEHOLDER = re.compile(r"([ \t]*)\{([A-Za-z_]\w*)\}")
"""A word in braces, with the spaces before it (dropped with a placeholder that has no
value)."""

SAMPLE_FIRST_NAME = "Sofia"
SAMPLE_REFERENCE = "BXL-2026-00042"
SAMPLE_TITLE = N_("A shared vegetable garden in our street")


def unknown_placeholders(text: str) -> list[str]:
    """The words in braces of `text` that are not placeholders, each once, in order."""
    found: list[str] = []
    for match in _PLACEHOLDER.finditer(text):
        name = match[2]
        if name not in PLACEHOLDERS and name not in found:
            found.append(name)
    return found


def fill(text: str, values: Mapping[str, str | None]) -> str:
    """`text` with each placeholder replaced by its value; one whose value is None goes
    away with the spaces before it. Anything else stays as written."""

    def replace(match: re.Match[str]) -> str:
        spaces, name = match[1], match[2]
        if name not in PLACEHOLDERS or name not in values:
            return match[0]
        value = values[name]
        return "" if value is None else spaces + value

    return _PLACEHOLDER.sub(replace, text)


def first_name(contact_name: str | None) -> str | None:
    """The first word of the name the citizen gave; None without one."""
    words = (contact_name or "").split()
    return words[0] if words else None


def proposal_values(proposal: Proposal) -> dict[str, str | None]:
    """Each placeholder's value for `proposal`, in its citizen's language."""
    return {
        "first_name": first_name(proposal.contact_name),
        "reference": proposal.reference,
        "title": proposal.title,
        "call": call_name(Translator(proposal.language), proposal.call_id),
    }


def answer_from_template(template: AnswerTemplate, proposal: Proposal) -> str | None:
    """The answer `template` gives to `proposal`: its text in the citizen's language with
    the placeholders filled; None when the template has no text in that language."""
    text = template.text(proposal.language)
    return None if text is None else fill(text, proposal_values(proposal))


@dataclass(frozen=True)
class OfferedAnswer:
    """What the proposal page puts in the answer box for a template."""

    text: str
    language: str
    """The language of `text`: the citizen's, unless the template lacks it."""
    fallback: bool
    """True: the template has no text in the citizen's language, `text` is in another one
    and staff must translate it before sending."""


def offered_answer(template: AnswerTemplate, proposal: Proposal) -> OfferedAnswer:
    """The template's answer in the citizen's language or, when it lacks that language, in
    the first other one it has (French, Dutch, English); placeholders are filled in the
    citizen's language either way."""
    answer = answer_from_template(template, proposal)
    if answer is not None:
        return OfferedAnswer(answer, proposal.language, fallback=False)
    for language in LANGUAGES:
        text = template.text(language)
        if text is not None:
            return OfferedAnswer(fill(text, proposal_values(proposal)), language, fallback=True)
    return OfferedAnswer("", proposal.language, fallback=True)


def sample_answer(text: str, language: str, call_id: str | None, *, named: bool) -> str:
    """`text` filled for a made-up proposal in `language` (the admin page's preview): of
    the call `call_id` (any call: the first of the catalogue), by a citizen who gave a first
    name or not (`named`)."""
    t = Translator(language)
    call = call_id or next(iter(all_calls()), None)
    return fill(
        text,
        {
            "first_name": SAMPLE_FIRST_NAME if named else None,
            "reference": SAMPLE_REFERENCE,
            "title": t.gettext(SAMPLE_TITLE),
            "call": call_name(t, call),
        },
    )
