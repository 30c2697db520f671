"""Staff's evaluation of a proposal (storage.evaluation) on SQLite and PostgreSQL: saving,
the rules it keeps, one event per change, and that the citizen is told nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from matching.calls import Criterion
from storage.database import create_engine, create_sessionmaker
from storage.evaluation import (
    EvaluationError,
    criteria_of,
    evaluation_of,
    save_evaluation,
)
from storage.models import OutboxMessage, Proposal, ProposalEvent
from storage.proposals import erase_citizen
from storage.redaction import REDACTED
from tests.factories import make_citizen, make_proposal

ANNA = "anna@example.brussels"
BRAM = "bram@example.brussels"
MONDAY = datetime(2026, 6, 1, 8, tzinfo=UTC)
TUESDAY = datetime(2026, 6, 2, 8, tzinfo=UTC)


@pytest.fixture
async def sessions(any_database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(any_database_url)
    yield create_sessionmaker(engine)
    await engine.dispose()


async def evaluated(session: AsyncSession, proposal_id: int) -> list[tuple[str, str | None]]:
    rows = await session.execute(
        select(ProposalEvent)
        .where(ProposalEvent.proposal_id == proposal_id)
        .where(ProposalEvent.kind == "evaluated")
        .order_by(ProposalEvent.id)
    )
    return [(e.actor, e.text) for e in rows.scalars()]


async def new_proposal_id(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session, session.begin():
        return (await make_proposal(session, call_id="inspirons_projet")).id


async def test_save_then_update_writes_one_event_per_change(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    proposal_id = await new_proposal_id(sessions)
    async with sessions() as session, session.begin():
        proposal = await session.get(Proposal, proposal_id)
        assert proposal is not None
        assert [c.id for c in criteria_of(proposal)][:2] == ["local_anchoring", "participation"]
        assert await evaluation_of(session, proposal_id) is None
        saved = await save_evaluation(
            session,
            proposal,
            feasibility="needs_study",
            explanation="  Vérifier avec la commune si la placette est disponible.  ",
            estimated_cost_cents=1_250_050,
            services_consulted="Service Espaces verts\nBruxelles Propreté",
            scores={"participation": 3, "local_anchoring": 4},
            actor=ANNA,
            now=MONDAY,
        )
        assert saved.changed
    async with sessions() as session:
        stored = await evaluation_of(session, proposal_id)
        assert stored is not None
        assert stored.feasibility == "needs_study"
        assert stored.explanation == "Vérifier avec la commune si la placette est disponible."
        assert stored.estimated_cost_cents == 1_250_050
        assert stored.services_consulted == "Service Espaces verts\nBruxelles Propreté"
        assert stored.scores == {"local_anchoring": 4, "participation": 3}
        assert (stored.updated_at, stored.updated_by) == (MONDAY, ANNA)
        [(actor, text)] = await evaluated(session, proposal_id)
        assert actor == ANNA and text is not None
        assert "feasibility: needs_study" in text
        assert "estimated cost: 12500.50 EUR" in text
        assert "scores: local_anchoring 4, participation 3" in text

    # The same again (scores in another order): no change, no event.
    async with sessions() as session, session.begin():
        proposal = await session.get(Proposal, proposal_id)
        assert proposal is not None
        again = await save_evaluation(
            session,
            proposal,
            feasibility="needs_study",
            explanation="Vérifier avec la commune si la placette est disponible.",
            estimated_cost_cents=1_250_050,
            services_consulted="Service Espaces verts\nBruxelles Propreté",
            scores={"local_anchoring": 4, "participation": 3},
            actor=BRAM,
            now=TUESDAY,
        )
        assert not again.changed
    # Another staff member decides: only what changed is in the event.
    async with sessions() as session, session.begin():
        proposal = await session.get(Proposal, proposal_id)
        assert proposal is not None
        await save_evaluation(
            session,
            proposal,
            feasibility="feasible",
            explanation="Vérifier avec la commune si la placette est disponible.",
            estimated_cost_cents=None,
            services_consulted="Service Espaces verts\nBruxelles Propreté",
            scores={"local_anchoring": 4, "participation": 3, "environment": 5},
            actor=BRAM,
            now=TUESDAY,
        )
    async with sessions() as session:
        stored = await evaluation_of(session, proposal_id)
        assert stored is not None
        assert (stored.feasibility, stored.estimated_cost_cents) == ("feasible", None)
        assert (stored.updated_at, stored.updated_by) == (TUESDAY, BRAM)
        events = await evaluated(session, proposal_id)
        assert len(events) == 2
        assert events[1] == (
            BRAM,
            "feasibility: feasible; estimated cost: —; "
            "scores: local_anchoring 4, participation 3, environment 5",
        )


async def test_not_feasible_needs_an_explanation_and_scores_fit_the_call(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    proposal_id = await new_proposal_id(sessions)
    base: dict[str, object] = {
        "feasibility": "feasible",
        "explanation": None,
        "estimated_cost_cents": None,
        "services_consulted": None,
        "scores": {},
        "actor": ANNA,
    }
    cases: list[tuple[dict[str, object], str]] = [
        ({"feasibility": "not_feasible"}, "explanation_required"),
        ({"feasibility": "not_feasible", "explanation": "   "}, "explanation_required"),
        ({"feasibility": "maybe"}, "feasibility"),
        ({"estimated_cost_cents": -1}, "cost"),
        ({"explanation": "x" * 3001}, "too_long"),
        ({"scores": {"unknown": 1}}, "criterion"),
        ({"scores": {"environment": 6}}, "score"),
        ({"scores": {"environment": -1}}, "score"),
        ({"scores": {"environment": True}}, "score"),
    ]
    async with sessions() as session, session.begin():
        proposal = await session.get(Proposal, proposal_id)
        assert proposal is not None
        for change, code in cases:
            with pytest.raises(EvaluationError) as raised:
                await save_evaluation(session, proposal, **{**base, **change})  # type: ignore[arg-type]
            assert raised.value.code == code, change
        assert await evaluation_of(session, proposal_id) is None
        saved = await save_evaluation(
            session,
            proposal,
            **{**base, "feasibility": "not_feasible", "explanation": "Terrain privé."},  # type: ignore[arg-type]
        )
        assert saved.changed
    async with sessions() as session:
        assert await evaluated(session, proposal_id) == [
            (ANNA, "feasibility: not_feasible; explanation: Terrain privé.")
        ]


async def test_without_a_call_there_is_nothing_to_score_and_criteria_can_be_given(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session, session.begin():
        proposal = await make_proposal(session, call_id=None)
        assert criteria_of(proposal) == ()
        with pytest.raises(EvaluationError):
            await save_evaluation(
                session,
                proposal,
                feasibility=None,
                explanation=None,
                estimated_cost_cents=None,
                services_consulted=None,
                scores={"local_anchoring": 1},
                actor=ANNA,
            )
        own = (Criterion("budget", {"fr": "Budget"}, 10),)
        saved = await save_evaluation(
            session,
            proposal,
            feasibility=None,
            explanation=None,
            estimated_cost_cents=0,
            services_consulted=None,
            scores={"budget": 10},
            actor=ANNA,
            criteria=own,
        )
        assert saved.evaluation is not None and saved.evaluation.scores == {"budget": 10}
        # An empty first save stores nothing.
        other = await make_proposal(session)
        empty = await save_evaluation(
            session,
            other,
            feasibility=None,
            explanation="",
            estimated_cost_cents=None,
            services_consulted=" ",
            scores={},
            actor=ANNA,
        )
        assert (empty.evaluation, empty.changed) == (None, False)
        assert await evaluated(session, other.id) == []


async def test_the_citizen_is_told_nothing(sessions: async_sessionmaker[AsyncSession]) -> None:
    """An evaluation is internal: saving one puts nothing in the outbox."""
    proposal_id = await new_proposal_id(sessions)
    async with sessions() as session:
        before = (await session.execute(select(func.count()).select_from(OutboxMessage))).scalar()
    async with sessions() as session, session.begin():
        proposal = await session.get(Proposal, proposal_id)
        assert proposal is not None
        await save_evaluation(
            session,
            proposal,
            feasibility="not_feasible",
            explanation="Hors du périmètre de l'appel.",
            estimated_cost_cents=100_000,
            services_consulted=None,
            scores={"environment": 1},
            actor=ANNA,
        )
    async with sessions() as session:
        after = (await session.execute(select(func.count()).select_from(OutboxMessage))).scalar()
        assert after == before
        proposal = await session.get(Proposal, proposal_id)
        assert proposal is not None and proposal.status == "submitted"


async def test_erasing_the_citizen_takes_their_name_out_of_the_evaluation(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Staff may name the citizen in the evaluation's free texts (and so in its history):
    when the citizen's data is erased, those mentions go as in the staff's notes."""
    async with sessions() as session, session.begin():
        citizen = await make_citizen(session, 4242)
        proposal = await make_proposal(
            session,
            citizen,
            call_id="inspirons_projet",
            contact_name="Jeanne Vandermeulen",
            contact_phone="+32470112233",
        )
        await save_evaluation(
            session,
            proposal,
            feasibility="not_feasible",
            explanation="Jeanne Vandermeulen n'a pas l'accord du propriétaire.",
            estimated_cost_cents=None,
            services_consulted="Urbanisme (appelé avec Jeanne Vandermeulen, +32 470 11 22 33)",
            scores={},
            actor=ANNA,
            now=MONDAY,
        )
        proposal_id = proposal.id
    async with sessions() as session, session.begin():
        await erase_citizen(session, 4242)
    async with sessions() as session:
        evaluation = await evaluation_of(session, proposal_id)
        assert evaluation is not None
        assert evaluation.explanation == f"{REDACTED} n'a pas l'accord du propriétaire."
        assert evaluation.services_consulted == f"Urbanisme (appelé avec {REDACTED}, {REDACTED})"
        history = " ".join(text or "" for _actor, text in await evaluated(session, proposal_id))
        assert "Vandermeulen" not in history and "Urbanisme" in history
