"""Bulk actions and their undo (storage.bulk, bot.services.bulk), on SQLite and PostgreSQL:
each proposal changed as a single change would be, the citizens' messages held for the
undo window, an undo within it (and refused after it), a proposal changed again since left
as it is."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.services.announcements import Announcer
from bot.services.bulk import (
    ALREADY,
    CONFLICT,
    NO_TEXT,
    NOT_ALLOWED,
    OTHER_CALL,
    UNREACHABLE,
    AnswerWith,
    AssignTo,
    SetStatus,
    Target,
    run_bulk,
    undo_bulk,
)
from bot.services.review import apply_review
from storage.answer_templates import save_template
from storage.assignment import assign
from storage.bulk import CHANGED_SINCE, DONE, UNDO_WINDOW, UNDONE, action_items
from storage.database import create_engine, create_sessionmaker
from storage.models import OutboxMessage, Proposal, ProposalEvent, StaffUser
from storage.outbox import claim_due
from storage.staff import add_staff
from tests.clock import TEST_NOW, MovingClock
from tests.factories import make_citizen, make_proposal

ANNOUNCER = Announcer(webhook=True)
ACTOR = "anna@example.be"


@pytest.fixture
async def sessions(any_database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(any_database_url)
    yield create_sessionmaker(engine)
    await engine.dispose()


async def seed(
    sessions: async_sessionmaker[AsyncSession], *statuses: str
) -> tuple[StaffUser, StaffUser, list[int]]:
    """Anna, Bram, and a proposal in each of `statuses` (each by its own citizen)."""
    async with sessions() as session, session.begin():
        anna = await add_staff(session, ACTOR, "not-a-hash", "reviewer")
        bram = await add_staff(session, "bram@example.be", "not-a-hash", "reviewer")
        ids = []
        for number, status in enumerate(statuses):
            citizen = await make_citizen(session, 7000 + number, "nl")
            proposal = await make_proposal(session, citizen, language="nl")
            proposal.status = status
            ids.append(proposal.id)
        return anna, bram, ids


async def state(session: AsyncSession, proposal_id: int) -> tuple[str, int | None]:
    proposal = await session.get(Proposal, proposal_id, populate_existing=True)
    assert proposal is not None
    return proposal.status, proposal.assignee_id


async def history(
    session: AsyncSession, proposal_id: int
) -> list[tuple[str, str | None, str | None]]:
    """The proposal's events after its submission: (kind, from status, to status)."""
    rows = await session.execute(
        select(ProposalEvent)
        .where(ProposalEvent.proposal_id == proposal_id)
        .order_by(ProposalEvent.id)
    )
    return [(e.kind, e.from_status, e.to_status) for e in rows.scalars()][1:]


async def messages(session: AsyncSession, kind: str = "telegram") -> list[OutboxMessage]:
    rows = await session.execute(
        select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
    )
    return list(rows.scalars())


async def change_status(
    sessions: async_sessionmaker[AsyncSession], ids: list[int], status: str
) -> int:
    async with sessions() as session, session.begin():
        action = await run_bulk(
            session,
            ANNOUNCER,
            SetStatus(status),
            [Target(i, shown=True) for i in ids],
            actor=ACTOR,
        )
        return action.id


async def undo(
    sessions: async_sessionmaker[AsyncSession], action_id: int, actor: str = ACTOR
) -> str | None:
    async with sessions() as session, session.begin():
        refusal = await undo_bulk(session, ANNOUNCER, action_id, actor=actor)
        return refusal.reason if refusal else None


async def outcomes(
    sessions: async_sessionmaker[AsyncSession], action_id: int
) -> list[tuple[str, str | None]]:
    async with sessions() as session:
        return [(item.outcome, item.undo) for item, _p in await action_items(session, action_id)]


async def test_a_bulk_status_change_holds_the_messages_and_its_undo_puts_everything_back(
    sessions: async_sessionmaker[AsyncSession], fixed_clock: MovingClock
) -> None:
    _anna, _bram, ids = await seed(sessions, "submitted", "in_review", "accepted", "rejected")
    action_id = await change_status(sessions, ids, "rejected")
    assert await outcomes(sessions, action_id) == [
        (DONE, None),
        (DONE, None),
        (NOT_ALLOWED, None),  # accepted → rejected is no transition
        (ALREADY, None),
    ]
    async with sessions() as session:
        assert [(await state(session, i))[0] for i in ids] == [
            "rejected",
            "rejected",
            "accepted",
            "rejected",
        ]
        for proposal_id, before in zip(ids[:2], ("submitted", "in_review"), strict=True):
            assert await history(session, proposal_id) == [("status", before, "rejected")]
        told = await messages(session)
        assert [m.chat_id for m in told] == [7000, 7001]
        for message in told:  # held for the undo window
            assert message.next_attempt_at >= TEST_NOW + UNDO_WINDOW
        assert len(await messages(session, "webhook")) == 2  # announced at once
    async with sessions() as session, session.begin():
        due = await claim_due(
            session, now=TEST_NOW + timedelta(seconds=30), limit=10, lease_seconds=30
        )
        assert [m.kind for m in due] == ["webhook", "webhook"]  # not the citizens' messages

    fixed_clock.set(TEST_NOW + timedelta(seconds=40))
    assert await undo(sessions, action_id) is None
    assert await outcomes(sessions, action_id) == [
        (DONE, UNDONE),
        (DONE, UNDONE),
        (NOT_ALLOWED, None),
        (ALREADY, None),
    ]
    async with sessions() as session:
        assert [await state(session, i) for i in ids] == [
            ("submitted", None),
            ("in_review", None),
            ("accepted", None),
            ("rejected", None),
        ]
        assert await history(session, ids[0]) == [
            ("status", "submitted", "rejected"),
            ("status", "rejected", "submitted"),
        ]
        assert await messages(session) == []  # the citizens are told nothing
        assert len(await messages(session, "webhook")) == 4  # the change back is announced
    assert await undo(sessions, action_id) == "already"


async def test_undo_after_the_window_is_refused_and_the_messages_leave(
    sessions: async_sessionmaker[AsyncSession], fixed_clock: MovingClock
) -> None:
    _anna, _bram, ids = await seed(sessions, "submitted")
    action_id = await change_status(sessions, ids, "accepted")
    fixed_clock.set(TEST_NOW + UNDO_WINDOW + timedelta(seconds=1))
    assert await undo(sessions, action_id) == "too_late"
    assert await outcomes(sessions, action_id) == [(DONE, None)]
    async with sessions() as session, session.begin():
        assert await state(session, ids[0]) == ("accepted", None)
        due = await claim_due(
            session, now=TEST_NOW + UNDO_WINDOW + timedelta(seconds=1), limit=10, lease_seconds=30
        )
        assert [m.chat_id for m in due if m.kind == "telegram"] == [7000]


async def test_only_its_author_may_undo_it(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    _anna, bram, ids = await seed(sessions, "submitted")
    action_id = await change_status(sessions, ids, "in_review")
    assert await undo(sessions, action_id, actor=bram.email) == "not_yours"
    assert await undo(sessions, action_id + 1) == "gone"
    async with sessions() as session:
        assert await state(session, ids[0]) == ("in_review", None)


async def test_a_proposal_changed_since_is_left_as_it_is(
    sessions: async_sessionmaker[AsyncSession], fixed_clock: MovingClock
) -> None:
    anna, bram, ids = await seed(sessions, "submitted", "submitted", "submitted")
    async with sessions() as session, session.begin():
        assigned = await run_bulk(
            session,
            ANNOUNCER,
            AssignTo(anna),
            [Target(i, shown=True) for i in ids[:2]]
            + [Target(ids[2], shown=True, shown_assignee=bram.id)],
            actor=ACTOR,
        )
    assert await outcomes(sessions, assigned.id) == [(DONE, None), (DONE, None), (CONFLICT, None)]
    status_id = await change_status(sessions, ids[:2], "in_review")
    async with sessions() as session, session.begin():
        second = await session.get(Proposal, ids[1])
        assert second is not None
        await assign(session, second, bram, actor=bram.email, expected=anna.id)
        await apply_review(session, ANNOUNCER, second, actor=bram.email, to_status="needs_info")

    fixed_clock.set(TEST_NOW + timedelta(seconds=20))
    assert await undo(sessions, status_id) is None
    assert await outcomes(sessions, status_id) == [(DONE, UNDONE), (DONE, CHANGED_SINCE)]
    assert await undo(sessions, assigned.id) is None
    assert await outcomes(sessions, assigned.id) == [
        (DONE, UNDONE),
        (DONE, CHANGED_SINCE),
        (CONFLICT, None),
    ]
    async with sessions() as session:
        assert await state(session, ids[0]) == ("submitted", None)
        assert await state(session, ids[1]) == ("needs_info", bram.id)
        # The second citizen's messages stand: the change they tell about was not undone.
        assert [m.chat_id for m in await messages(session)] == [7001, 7001]
        events = await session.execute(
            select(ProposalEvent.kind, ProposalEvent.actor, ProposalEvent.text)
            .where(ProposalEvent.proposal_id == ids[0], ProposalEvent.kind != "status")
            .order_by(ProposalEvent.id)
        )
        assert events.all() == [("assigned", ACTOR, ACTOR), ("unassigned", ACTOR, None)]


async def test_a_citizen_who_was_told_already_is_told_about_the_undo(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A dispatcher whose clock runs ahead sent the held message: the citizen saw the
    change, so they are told about the status back, as for any status change."""
    _anna, _bram, ids = await seed(sessions, "submitted")
    action_id = await change_status(sessions, ids, "accepted")
    async with sessions() as session, session.begin():
        (held,) = await messages(session)
        held.status, held.sent_at = "sent", TEST_NOW
    assert await undo(sessions, action_id) is None
    async with sessions() as session:
        told = await messages(session)
        assert [(m.chat_id, m.status) for m in told] == [(7000, "sent"), (7000, "pending")]
        assert "Status: submitted" not in told[1].payload["text"]  # in the citizen's Dutch
        assert "ingediend" in told[1].payload["text"]
        assert await state(session, ids[0]) == ("submitted", None)


async def test_a_template_answers_each_citizen_in_their_language_and_undo_cancels_it(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The template's status goes with its answer where the workflow allows it; a proposal
    of another call, one whose citizen's language the template lacks, one whose citizen
    erased their data, and one that cannot take the status are skipped. An undo puts the
    status back and the answers the citizens never received stay as cancelled."""
    async with sessions() as session, session.begin():
        anna = await add_staff(session, ACTOR, "not-a-hash", "reviewer")
        template = await save_template(
            session,
            None,
            name="Accepted",
            call_id="inspirons_projet",
            status="accepted",
            texts={
                "fr": "Bonjour {first_name}, votre projet {reference} est retenu.",
                "nl": "Dag {first_name}, je project {reference} is gekozen.",
            },
            updated_by=ACTOR,
        )
        made: dict[str, Proposal] = {}
        for name, language, call, contact in (
            ("fr", "fr", "inspirons_projet", "Sofia Peeters"),
            ("nl", "nl", "inspirons_projet", None),
            ("en", "en", "inspirons_projet", "Sam"),
            ("other_call", "fr", None, "Léa"),
            ("erased", "fr", "inspirons_projet", "Ana"),
            ("decided", "nl", "inspirons_projet", "Piet"),
        ):
            citizen = await make_citizen(session, language=language)
            made[name] = await make_proposal(
                session, citizen, language=language, call_id=call, contact_name=contact
            )
        made["decided"].status = "rejected"
        made["erased"].citizen_id = None
        action = await run_bulk(
            session,
            ANNOUNCER,
            AnswerWith(template),
            [Target(p.id) for p in made.values()],
            actor=anna.email,
        )
    async with sessions() as session:
        outcomes = {p.proposal_id: p.outcome for p, _ in await action_items(session, action.id)}
        assert [outcomes[p.id] for p in made.values()] == [
            DONE,
            DONE,
            NO_TEXT,
            OTHER_CALL,
            UNREACHABLE,
            NOT_ALLOWED,
        ]
        answers = (
            await session.execute(
                select(ProposalEvent.proposal_id, ProposalEvent.text).where(
                    ProposalEvent.kind == "answer"
                )
            )
        ).all()
        fr, nl = made["fr"], made["nl"]
        assert sorted(answers) == sorted(
            [
                (fr.id, f"Bonjour Sofia, votre projet {fr.reference} est retenu."),
                (nl.id, f"Dag, je project {nl.reference} is gekozen."),  # no name: no hole
            ]
        )
        assert [await state(session, p.id) for p in (fr, nl)] == [("accepted", None)] * 2
        held = (await session.execute(select(OutboxMessage))).scalars().all()
        citizen_texts = [m.payload["text"] for m in held if m.kind == "telegram"]
        assert len(citizen_texts) == 2
        assert any("Bonjour Sofia" in text for text in citizen_texts)
        assert any("Dag, je project" in text for text in citizen_texts)

    async with sessions() as session, session.begin():
        assert await undo_bulk(session, ANNOUNCER, action.id, actor=anna.email) is None
    async with sessions() as session:
        assert [await state(session, p.id) for p in (fr, nl)] == [("submitted", None)] * 2
        assert await history(session, fr.id) == [
            ("status", "submitted", "accepted"),
            ("answer_cancelled", None, None),
            ("status", "accepted", "submitted"),
        ]
        telegram = (
            await session.execute(select(OutboxMessage).where(OutboxMessage.kind == "telegram"))
        ).scalars()
        assert list(telegram) == []  # nothing reached the citizens


async def test_a_bulk_assignment_tells_a_linked_assignee_once(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Bram linked Telegram: three proposals given to him at once make one private
    message listing them, not three; taking them oneself tells nobody."""
    anna, bram, ids = await seed(sessions, "submitted", "submitted", "in_review")
    async with sessions() as session, session.begin():
        linked = await session.get(StaffUser, bram.id)
        assert linked is not None
        linked.telegram_user_id = 880_001
        action = await run_bulk(
            session, ANNOUNCER, AssignTo(linked), [Target(i) for i in ids], actor=anna.email
        )
        references = [p.reference for _item, p in await action_items(session, action.id)]
        await run_bulk(
            session, ANNOUNCER, AssignTo(anna), [Target(ids[0])], actor=anna.email
        )  # Anna takes one back herself
    async with sessions() as session:
        (told,) = await messages(session)  # nothing for the citizens, one for Bram
        assert told.chat_id == 880_001
        text = told.payload["text"]
        assert "3 propositions vous ont été attribuées" in text  # Bram reads French
        assert ", ".join(references) in text and anna.email in text
