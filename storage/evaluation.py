"""Staff's evaluation of a proposal: feasibility (with why, when it is not feasible), the
estimated cost, the services consulted, and a score per criterion of the proposal's call.

The evaluation is internal: nothing of it reaches the citizen (not /status, not their data
copy, not the outbox); a verdict reaches them only when staff send an answer (storage.
workflow). One row per proposal, rewritten whole by each save; every save that changes
something is an "evaluated" event in the proposal's history, with what changed; a save that
changes nothing writes nothing. The caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from matching.calls import Criterion, all_calls
from storage.clock import utcnow
from storage.models import Proposal, ProposalEvaluation, ProposalEvent

FEASIBILITIES: tuple[str, ...] = ("feasible", "not_feasible", "needs_study")
"""What staff may say of a project's feasibility (None: not assessed yet)."""

NOT_FEASIBLE = "not_feasible"
TEXT_LIMIT = 3000
"""The longest explanation or list of services consulted, in characters."""
SUMMARY_LIMIT = 200
"""How much of a changed text the event repeats."""


class EvaluationError(ValueError):
    """An evaluation that cannot be saved; `code` says why:

    - ``feasibility``: not one of FEASIBILITIES;
    - ``explanation_required``: not feasible, and no explanation;
    - ``too_long``: an explanation or services consulted over TEXT_LIMIT characters;
    - ``cost``: a negative estimated cost;
    - ``criterion``: a score for a criterion the call does not have (`criterion`);
    - ``score``: a score outside 0…the criterion's maximum (`criterion`, `maximum`).
    """

    def __init__(self, code: str, **params: object) -> None:
        super().__init__(code, params)
        self.code = code
        self.params = params


@dataclass(frozen=True)
class Saved:
    evaluation: ProposalEvaluation | None
    """None only when a first save is empty (nothing to store)."""
    changed: bool
    """False: the save repeated what was stored; no event was written."""


def criteria_of(proposal: Proposal) -> tuple[Criterion, ...]:
    """The criteria of the proposal's call; none without a call (or for a call since removed)."""
    call = all_calls().get(proposal.call_id or "")
    return call.criteria if call is not None else ()


async def evaluation_of(session: AsyncSession, proposal_id: int) -> ProposalEvaluation | None:
    """The proposal's evaluation, or None before the first save."""
    return await session.get(ProposalEvaluation, proposal_id)


def _text(value: str | None) -> str | None:
    value = (value or "").strip()
    if len(value) > TEXT_LIMIT:
        raise EvaluationError("too_long", maximum=TEXT_LIMIT)
    return value or None


def _check_scores(scores: Mapping[str, int], criteria: Sequence[Criterion]) -> dict[str, int]:
    maxima = {criterion.id: criterion.max_score for criterion in criteria}
    checked: dict[str, int] = {}
    for criterion_id, score in scores.items():
        if criterion_id not in maxima:
            raise EvaluationError("criterion", criterion=criterion_id)
        maximum = maxima[criterion_id]
        if isinstance(score, bool) or not isinstance(score, int) or not 0 <= score <= maximum:
            raise EvaluationError("score", criterion=criterion_id, maximum=maximum)
        checked[criterion_id] = score
    # In the call's order, so that a save in another order is no change.
    return {c.id: checked[c.id] for c in criteria if c.id in checked}


def _short(text: str | None) -> str:
    if text is None:
        return "—"
    return text if len(text) <= SUMMARY_LIMIT else text[: SUMMARY_LIMIT - 1] + "…"


def _cost(cents: int | None) -> str:
    return "—" if cents is None else f"{cents // 100}.{cents % 100:02d} EUR"


@dataclass(frozen=True)
class _Values:
    feasibility: str | None
    explanation: str | None
    estimated_cost_cents: int | None
    services_consulted: str | None
    scores: dict[str, int]


def _stored(evaluation: ProposalEvaluation | None) -> _Values:
    if evaluation is None:
        return _Values(None, None, None, None, {})
    return _Values(
        evaluation.feasibility,
        evaluation.explanation,
        evaluation.estimated_cost_cents,
        evaluation.services_consulted,
        dict(evaluation.scores),
    )


def _summary(before: _Values, after: _Values) -> str | None:
    """What changed, "field: new value" per change; None when nothing did."""
    parts = []
    if before.feasibility != after.feasibility:
        parts.append(f"feasibility: {after.feasibility or '—'}")
    if before.explanation != after.explanation:
        parts.append(f"explanation: {_short(after.explanation)}")
    if before.estimated_cost_cents != after.estimated_cost_cents:
        parts.append(f"estimated cost: {_cost(after.estimated_cost_cents)}")
    if before.services_consulted != after.services_consulted:
        parts.append(f"services consulted: {_short(after.services_consulted)}")
    if before.scores != after.scores:
        listed = ", ".join(f"{key} {value}" for key, value in after.scores.items())
        parts.append(f"scores: {listed or '—'}")
    return "; ".join(parts) or None


async def save_evaluation(
    session: AsyncSession,
    proposal: Proposal,
    *,
    feasibility: str | None,
    explanation: str | None,
    estimated_cost_cents: int | None,
    services_consulted: str | None,
    scores: Mapping[str, int],
    actor: str,
    criteria: Sequence[Criterion] | None = None,
    now: datetime | None = None,
) -> Saved:
    """Store the evaluation `actor` (a staff e-mail address) filled in, in place of the
    previous one, and write an "evaluated" event saying what changed.

    Texts are stripped (blank: None). `scores` go by criterion id, each from 0 to the
    criterion's maximum; `criteria` are the call's (by default those of the proposal's
    call, criteria_of). Raises EvaluationError, and changes nothing, when the evaluation
    breaks a rule; the citizen is never told (no outbox message)."""
    if feasibility is not None and feasibility not in FEASIBILITIES:
        raise EvaluationError("feasibility")
    explanation = _text(explanation)
    if feasibility == NOT_FEASIBLE and explanation is None:
        raise EvaluationError("explanation_required")
    services_consulted = _text(services_consulted)
    if estimated_cost_cents is not None and estimated_cost_cents < 0:
        raise EvaluationError("cost")
    checked = _check_scores(scores, criteria_of(proposal) if criteria is None else criteria)
    after = _Values(feasibility, explanation, estimated_cost_cents, services_consulted, checked)
    evaluation = await session.get(ProposalEvaluation, proposal.id, with_for_update=True)
    summary = _summary(_stored(evaluation), after)
    if summary is None:
        return Saved(evaluation, False)
    now = now or utcnow()
    if evaluation is None:
        evaluation = ProposalEvaluation(proposal_id=proposal.id)
        session.add(evaluation)
    evaluation.feasibility = feasibility
    evaluation.explanation = explanation
    evaluation.estimated_cost_cents = estimated_cost_cents
    evaluation.services_consulted = services_consulted
    evaluation.scores = checked
    evaluation.updated_at = now
    evaluation.updated_by = actor
    session.add(
        ProposalEvent(
            proposal_id=proposal.id, created_at=now, actor=actor, kind="evaluated", text=summary
        )
    )
    await session.flush()
    return Saved(evaluation, True)
