"""The proposal page's evaluation (issue 14 §3): feasibility, estimated cost, services
consulted, and a score per criterion of the proposal's call, which staff fill in.

The evaluation is internal (storage.evaluation): the citizen sees nothing of it until
staff send an answer. A form with mistakes comes back with what staff typed and a message
by field, in their language; nothing is saved until the whole form is right.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from bot.backoffice.common import error_page, render, translator
from bot.backoffice.keys import SESSIONMAKER, STAFF
from bot.text.i18n import N_, Translator
from bot.text.parsers import ParseError, ParseErrorCode, parse_budget
from bot.text.wording import call_name
from matching.calls import Criterion
from storage.evaluation import (
    FEASIBILITIES,
    NOT_FEASIBLE,
    TEXT_LIMIT,
    EvaluationError,
    criteria_of,
    evaluation_of,
    save_evaluation,
)
from storage.models import Proposal, ProposalEvaluation
from storage.review import proposal_detail

FEASIBILITY_LABELS = {
    "feasible": N_("Feasible"),
    "not_feasible": N_("Not feasible"),
    "needs_study": N_("Needs further study"),
}
FORM_ERRORS = {
    "explanation_required": ("explanation", N_("Explain why the project is not feasible.")),
    "too_long": ("form", N_("The text is too long (3000 characters at most).")),
    "cost": ("estimated_cost", N_("The estimated cost cannot be negative.")),
    "feasibility": ("form", N_("Choose a feasibility from the list.")),
    "criterion": ("form", N_("This call has no such criterion; reload the page.")),
}
"""Where each storage.evaluation.EvaluationError code is shown, and what it says."""


@dataclass
class Draft:
    """The form's values as text, as staff typed them (or as stored)."""

    feasibility: str = ""
    explanation: str = ""
    estimated_cost: str = ""
    services_consulted: str = ""
    scores: dict[str, str] = field(default_factory=dict)


def _stored(t: Translator, evaluation: ProposalEvaluation | None) -> Draft:
    if evaluation is None:
        return Draft()
    cents = evaluation.estimated_cost_cents
    return Draft(
        feasibility=evaluation.feasibility or "",
        explanation=evaluation.explanation or "",
        estimated_cost=t.money(cents) if cents is not None else "",
        services_consulted=evaluation.services_consulted or "",
        scores={key: str(value) for key, value in evaluation.scores.items()},
    )


def panel(
    t: Translator,
    proposal: Proposal,
    evaluation: ProposalEvaluation | None,
    *,
    draft: Draft | None = None,
    errors: Mapping[str, str] | None = None,
    saved: bool = False,
) -> dict[str, Any]:
    """The evaluation section's context: the form's values (`draft`, or what is stored),
    the call's criteria named in the staff member's language, and the errors by field."""
    values = draft or _stored(t, evaluation)
    criteria = criteria_of(proposal)
    return {
        "evaluation": {
            "draft": values,
            "errors": dict(errors or {}),
            "saved": saved,
            "call": call_name(t, proposal.call_id) if proposal.call_id else None,
            "feasibilities": [
                ("", t.gettext("Not assessed yet")),
                *((value, t.gettext(FEASIBILITY_LABELS[value])) for value in FEASIBILITIES),
            ],
            "criteria": [
                {
                    "id": criterion.id,
                    "name": criterion.name(t.language),
                    "max": criterion.max_score,
                    "value": values.scores.get(criterion.id, ""),
                }
                for criterion in criteria
            ],
            "updated": (
                {"when": t.datetime(evaluation.updated_at), "by": evaluation.updated_by}
                if evaluation is not None
                else None
            ),
            "cost": (
                t.money(evaluation.estimated_cost_cents)
                if evaluation is not None and evaluation.estimated_cost_cents is not None
                else None
            ),
            "text_limit": TEXT_LIMIT,
        }
    }


async def evaluation_context(
    request: web.Request, db: AsyncSession, proposal: Proposal
) -> dict[str, Any]:
    """What the proposal page needs to show the evaluation section."""
    t = translator(request)
    evaluation = await evaluation_of(db, proposal.id)
    return panel(t, proposal, evaluation, saved=request.query.get("evaluated") == "1")


# ------------------------------------------------------------------ the form


def _parse_cost(t: Translator, text: str) -> tuple[int | None, str | None]:
    """(cents or None when blank, an error message or None)."""
    if not text.strip():
        return None, None
    try:
        amount = parse_budget(text, t.language)
    except ParseError as error:
        if error.code is ParseErrorCode.ZERO:
            return 0, None
        if error.code is ParseErrorCode.TOO_LARGE:
            return None, t.gettext("The estimated cost is too large.")
        return None, t.gettext(
            "The estimated cost is not an amount in euros. Write it as, for example, "
            "“2 500”, “2.500,50” or “12k”."
        )
    if amount.is_range:
        return None, t.gettext("Give one amount for the estimated cost, not a range.")
    return amount.low_cents, None


def _parse_scores(
    t: Translator, criteria: Sequence[Criterion], draft: Draft, errors: dict[str, str]
) -> dict[str, int]:
    scores: dict[str, int] = {}
    for criterion in criteria:
        text = draft.scores.get(criterion.id, "").strip()
        if not text:
            continue
        if text.isascii() and text.isdigit() and int(text) <= criterion.max_score:
            scores[criterion.id] = int(text)
        else:
            errors["score-" + criterion.id] = t.gettext(
                "A score is a whole number from 0 to %(maximum)d."
            ) % {"maximum": criterion.max_score}
    return scores


async def save_evaluation_form(request: web.Request) -> web.StreamResponse:
    """Save the evaluation, or show the form again with what is wrong (400)."""
    reference = request.match_info["reference"]
    form = await request.post()
    t = translator(request)
    async with request.app[SESSIONMAKER]() as db, db.begin():
        proposal = await proposal_detail(db, reference)
        if proposal is None:
            return await error_page(request, 404, N_("There is no proposal with this reference."))
        criteria = criteria_of(proposal)
        draft = Draft(
            feasibility=str(form.get("feasibility", "")),
            explanation=str(form.get("explanation", "")),
            estimated_cost=str(form.get("estimated_cost", "")),
            services_consulted=str(form.get("services_consulted", "")),
            scores={c.id: str(form.get("score-" + c.id, "")) for c in criteria},
        )
        errors: dict[str, str] = {}
        context: dict[str, Any] = {}
        if draft.feasibility == NOT_FEASIBLE and not draft.explanation.strip():
            where, message = FORM_ERRORS["explanation_required"]
            errors[where] = t.gettext(message)
        cost, cost_error = _parse_cost(t, draft.estimated_cost)
        if cost_error:
            errors["estimated_cost"] = cost_error
        scores = _parse_scores(t, criteria, draft, errors)
        if not errors:
            try:
                await save_evaluation(
                    db,
                    proposal,
                    feasibility=draft.feasibility or None,
                    explanation=draft.explanation,
                    estimated_cost_cents=cost,
                    services_consulted=draft.services_consulted,
                    scores=scores,
                    actor=request[STAFF].email,
                    criteria=criteria,
                )
            except EvaluationError as error:
                where, message = FORM_ERRORS.get(error.code, ("form", error.code))
                errors[where] = t.gettext(message)
        if errors:
            evaluation = await evaluation_of(db, proposal.id)
            context = panel(t, proposal, evaluation, draft=draft, errors=errors)
    # Redirect once the transaction is committed (an exception inside would roll it back).
    if not errors:
        raise web.HTTPSeeOther(f"/proposals/{reference}?evaluated=1#evaluation")
    return await render(request, "evaluation.html", {"p": proposal, **context}, status=400)


def add_evaluation_routes(app: web.Application) -> None:
    app.router.add_post(
        "/proposals/{reference}/evaluation", save_evaluation_form, name="evaluation"
    )
