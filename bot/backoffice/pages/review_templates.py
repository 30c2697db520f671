"""The answer templates on a proposal's review form (issue 14 §4).

The form offers the templates that fit the proposal (storage.answer_templates.templates_for:
its call's, then those for any call) whose status it can still take. Choosing one is a GET
(`?template=<id>#review`), so it works without JavaScript: the page comes back with the
answer box filled in the citizen's language and the template's status chosen. Nothing is
sent: staff edit the answer, then Save (review_proposal) sends it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from bot.backoffice.common import translator
from bot.text.answer_templates import offered_answer
from bot.text.i18n import N_, Translator
from storage.answer_templates import templates_for
from storage.models import AnswerTemplate, Proposal
from storage.workflow import TRANSITIONS

CHOICE = "template"
"""The query parameter that names the chosen template."""
LANGUAGE_LABELS = {"fr": N_("French"), "nl": N_("Dutch"), "en": N_("English")}
"""A template's languages, named in the staff member's language ("no text in Dutch")."""
NOT_KEPT = frozenset({CHOICE, "reviewed", "assign", "evaluated"})
"""Query parameters the choice does not carry on: one-time notices of the page."""


def _label(
    t: Translator,
    template: AnswerTemplate,
    citizen_language: str,
    language_name: str,
    status_label: Callable[[str | None], str],
) -> str:
    """ "Name (status)", and whether the citizen's language is missing."""
    label = (
        f"{template.name} ({status_label(template.status)})" if template.status else template.name
    )
    if template.text(citizen_language) is None:
        label += " — " + t.gettext("no text in %(language)s") % {"language": language_name}
    return label


async def review_templates_context(
    request: web.Request,
    db: AsyncSession,
    proposal: Proposal,
    status_label: Callable[[str | None], str],
) -> dict[str, Any]:
    """What proposal.html's review form needs to offer the templates, and the chosen one's
    answer (`template_answer`, None when none is chosen) and status (`template_status`)."""
    t = translator(request)
    next_statuses = TRANSITIONS.get(proposal.status, frozenset())
    fitting = [
        template
        for template in await templates_for(db, proposal.call_id, None)
        if template.status is None
        or template.status in next_statuses
        or template.status == proposal.status
    ]
    wanted = request.query.get(CHOICE, "")
    chosen = next((tpl for tpl in fitting if str(tpl.id) == wanted), None)
    language = t.gettext(LANGUAGE_LABELS.get(proposal.language, proposal.language))
    context: dict[str, Any] = {
        "answer_templates": [
            {
                "id": template.id,
                "label": _label(t, template, proposal.language, language, status_label),
                "selected": template is chosen,
            }
            for template in fitting
        ],
        "template_query": [
            (name, value) for name, value in request.query.items() if name not in NOT_KEPT
        ],
        "template_unknown": bool(wanted) and chosen is None,
        "template_name": chosen.name if chosen else None,
        "template_answer": None,
        "template_status": None,
        "template_fallback": None,
    }
    if chosen is not None:
        offered = offered_answer(chosen, proposal)
        context["template_answer"] = offered.text
        if chosen.status in next_statuses:
            context["template_status"] = chosen.status
        if offered.fallback:
            context["template_fallback"] = t.gettext(
                "This template has no text in %(language)s: the text in %(other)s is shown. "
                "Translate it before saving."
            ) % {"language": language, "other": t.gettext(LANGUAGE_LABELS[offered.language])}
    return context
