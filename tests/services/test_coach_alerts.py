"""Who is alerted about a proposal, what the alert says, takes, and the daily digest."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.services.coach_alerts import (
    Follows,
    alert_reasons,
    digest_key,
    enqueue_coach_alerts,
    invite_link,
    load_alert,
    run_digests,
    send_pending_now,
    take_alert,
    withdraw_alerts,
    write_digests,
)
from bot.text.i18n import Translator
from storage.coaches import (
    COMMUNE,
    DIGEST,
    DIGEST_PENDING,
    INITIATIVE,
    QUEUED,
    TAKEN_BY_OTHER,
    THEME,
    coach_by_telegram,
    invite_coach,
    link_coach,
    set_follow,
)
from storage.database import create_sessionmaker
from storage.models import CoachAlert, Initiative, OutboxMessage, Proposal
from storage.proposals import NewMatch
from tests.factories import make_citizen, make_proposal

THRESHOLD = 0.35
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # 10:00 in Brussels


# ------------------------------------------------------------------ the rule, without a database


def reasons(follows: Follows, **proposal: Any) -> dict[str, Any] | None:
    facts: dict[str, Any] = {
        "themes": ["compost"],
        "commune": "21015",
        "region_wide": False,
        "matched": {},
        "threshold": THRESHOLD,
    }
    facts.update(proposal)
    return alert_reasons(follows, **facts)


def test_an_initiative_at_or_above_the_threshold() -> None:
    follows = Follows(initiatives=frozenset({7}))
    assert reasons(follows, matched={7: 0.35})["initiatives"] == [7]  # type: ignore[index]
    assert reasons(follows, matched={7: 0.34}) is None
    assert reasons(follows, matched={8: 0.9}) is None


def test_theme_and_commune_both_needed_when_both_followed() -> None:
    follows = Follows(themes=frozenset({"compost"}), communes=frozenset({"21015"}))
    assert reasons(follows) == {
        "initiatives": [],
        "themes": ["compost"],
        "communes": ["21015"],
        "region": False,
    }
    assert reasons(follows, commune="21009") is None
    assert reasons(follows, themes=["culture"]) is None
    region = reasons(follows, commune=None, region_wide=True)
    assert region is not None and region["region"] is True


def test_one_dimension_is_enough_when_only_one_is_followed() -> None:
    themes_only = Follows(themes=frozenset({"compost"}))
    assert reasons(themes_only, commune="21009") is not None
    assert reasons(themes_only, themes=["culture"]) is None
    communes_only = Follows(communes=frozenset({"21015"}))
    assert reasons(communes_only, themes=["culture"]) is not None
    assert reasons(communes_only, commune="21009") is None
    assert reasons(Follows()) is None


def test_the_invite_link() -> None:
    assert invite_link("intake_bot", "abc") == "https://t.me/intake_bot?start=coach-abc"
    assert "<bot username>" in invite_link(None, "abc")


# ------------------------------------------------------------------ with a database


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(engine)


async def coach(
    sessions: async_sessionmaker[AsyncSession],
    user_id: int,
    *,
    name: str = "Anne",
    language: str = "nl",
    follows: tuple[tuple[str, str], ...] = (),
    **fields: Any,
) -> int:
    async with sessions.begin() as session:
        _coach, token = await invite_coach(session, name, language, "test", NOW)
        outcome = await link_coach(session, token, user_id, user_id, NOW)
        assert outcome.coach is not None
        for kind, value in follows:
            await set_follow(session, outcome.coach, kind, value, True)
        for key, value in fields.items():
            setattr(outcome.coach, key, value)
        return outcome.coach.id


async def initiative(sessions: async_sessionmaker[AsyncSession], name: str) -> int:
    async with sessions.begin() as session:
        found = Initiative(external_id=name, name=name, commune_refnis="21015", themes=["compost"])
        session.add(found)
        await session.flush()
        return found.id


async def submit(
    sessions: async_sessionmaker[AsyncSession],
    key: str,
    *,
    matches: tuple[tuple[int, float], ...] = (),
    now: datetime = NOW,
    **fields: Any,
) -> tuple[int, int]:
    """Submit a proposal and alert the coaches, like the intake does; (proposal id, alerts)."""
    values: dict[str, Any] = {
        "submission_key": key,
        "language": "fr",
        "title": "Un compost collectif rue Royale",
        "description": "Installer trois bacs à compost avec les voisins et l'école du quartier.",
        "commune_refnis": "21015",
        "themes": ["compost", "zero_waste"],
        "budget_cents": 250000,
        "contact_name": "Marie",
        "contact_email": "marie@example.be",
        "consent_contact": True,
        "consent_share": True,
    }
    values.update(fields)
    async with sessions.begin() as session:
        citizen = await make_citizen(session, 900, "fr")
        proposal = await make_proposal(
            session,
            citizen,
            now=now,
            matches=[
                NewMatch(score, ["same_commune", "shared_concepts:compost"], initiative_id=i)
                for i, score in matches
            ],
            **values,
        )
        count = await enqueue_coach_alerts(session, proposal, threshold=THRESHOLD, now=now)
        return proposal.id, count


async def outbox(sessions: async_sessionmaker[AsyncSession]) -> list[OutboxMessage]:
    async with sessions() as session:
        return list(
            (await session.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars()
        )


async def alerts(sessions: async_sessionmaker[AsyncSession]) -> list[CoachAlert]:
    async with sessions() as session:
        return list((await session.execute(select(CoachAlert).order_by(CoachAlert.id))).scalars())


async def test_exactly_one_alert_per_coach_in_their_language(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    compost = await initiative(sessions, "Compost Josaphat")
    everything = (
        (INITIATIVE, str(compost)),
        (THEME, "compost"),
        (COMMUNE, "21015"),
    )
    await coach(sessions, 501, name="Anne", language="nl", follows=everything)
    await coach(sessions, 502, name="Bruno", language="fr", follows=((THEME, "compost"),))
    _proposal_id, count = await submit(sessions, "p1", matches=((compost, 0.72),))
    assert count == 2
    rows = await outbox(sessions)
    assert [(r.chat_id, r.kind) for r in rows] == [(501, "telegram"), (502, "telegram")]
    dutch, french = rows[0].payload["text"], rows[1].payload["text"]
    # the coach's language: commune, themes, money and the reasons
    assert "Schaarbeek" in dutch and "€\xa02.500" in dutch and "zelfde gemeente" in dutch
    assert "Schaerbeek" in french and "2\u202f500\xa0€" in french and "même commune" in french
    assert "Schaarbeek" not in french
    assert "Compost Josaphat" in dutch and "72%" in dutch and "📌" in dutch
    assert "Compost Josaphat" in french and "72\xa0%" in french and "📌" not in french
    assert "Marie" not in dutch and "marie@example.be" not in dutch  # contact only on request
    buttons = [b["callback_data"] for row in rows[0].payload["buttons"] for b in row]
    assert [b.split(":")[1] for b in buttons] == ["take", "nr", "contact"]
    assert [a.status for a in await alerts(sessions)] == [QUEUED, QUEUED]
    assert [a.outbox_id for a in await alerts(sessions)] == [r.id for r in rows]


async def test_no_alert_for_a_proposal_that_does_not_match(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    compost = await initiative(sessions, "Compost Josaphat")
    await coach(sessions, 501, follows=((INITIATIVE, str(compost)),))
    await coach(sessions, 502, follows=((THEME, "culture"), (COMMUNE, "21015")))
    _id, count = await submit(sessions, "p1", matches=((compost, 0.2),))
    assert count == 0 and await outbox(sessions) == []


async def test_paused_unlinked_and_test_proposals(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await coach(sessions, 501, follows=((THEME, "compost"),), paused=True)
    async with sessions.begin() as session:
        unlinked, _token = await invite_coach(session, "Bert", "fr", "test", NOW)
        unlinked_id = unlinked.id
    assert unlinked_id
    assert (await submit(sessions, "p1"))[1] == 0
    await coach(sessions, 502, name="Carla", follows=((THEME, "compost"),))
    assert (await submit(sessions, "p2", is_test=True))[1] == 0
    assert (await submit(sessions, "p3"))[1] == 1
    assert [r.chat_id for r in await outbox(sessions)] == [502]


async def test_no_contact_button_without_consent(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await coach(sessions, 501, language="en", follows=((THEME, "compost"),))
    await submit(sessions, "p1", consent_share=False, similar={"choice": "connect", "name": "X"})
    [row] = await outbox(sessions)
    actions = [b["callback_data"].split(":")[1] for r in row.payload["buttons"] for b in r]
    assert actions == ["take", "nr"]
    assert "did not agree to share" in row.payload["text"]
    assert "put in touch with X" in row.payload["text"]


async def test_taking_edits_the_others_alerts(sessions: async_sessionmaker[AsyncSession]) -> None:
    await coach(sessions, 501, name="Anne", language="nl", follows=((THEME, "compost"),))
    await coach(sessions, 502, name="Bruno <b>", language="fr", follows=((THEME, "compost"),))
    await coach(sessions, 503, name="Carla", language="en", follows=((THEME, "compost"),))
    await submit(sessions, "p1")
    first, second, third = await alerts(sessions)
    async with sessions.begin() as session:
        alert = await load_alert(session, second.id)
        assert alert is not None
        outcome = await take_alert(session, alert, NOW)
        assert outcome.won and outcome.take.coach.name == "Bruno <b>"
    async with sessions.begin() as session:
        alert = await load_alert(session, first.id)
        assert alert is not None
        outcome = await take_alert(session, alert, NOW)
        assert not outcome.won and outcome.take.coach.name == "Bruno <b>"
    rows = await outbox(sessions)
    edits = [r for r in rows if r.kind == "telegram_edit"]
    assert [(e.chat_id, e.payload["edit_of"]) for e in edits] == [
        (501, first.outbox_id),
        (503, third.outbox_id),
    ]
    for edit in edits:
        assert "Bruno &lt;b&gt;" in edit.payload["text"]
        actions = [b["callback_data"].split(":")[1] for r in edit.payload["buttons"] for b in r]
        assert "take" not in actions and "nr" in actions
    assert [a.status for a in await alerts(sessions)] == [TAKEN_BY_OTHER, QUEUED, TAKEN_BY_OTHER]


async def test_a_withdrawn_proposal_is_said_in_every_alert_and_digest(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await coach(sessions, 501, name="Anne", language="nl", follows=((THEME, "compost"),))
    await coach(
        sessions, 502, name="Bruno", language="fr", follows=((THEME, "compost"),), mode=DIGEST
    )
    await submit(sessions, "p1")
    async with sessions.begin() as session:
        await write_digests(session, NOW + timedelta(days=1))
    immediate, in_digest = await alerts(sessions)
    async with sessions.begin() as session:
        proposal = await session.get(Proposal, immediate.proposal_id)
        assert proposal is not None
        proposal.status = "withdrawn"
        assert await withdraw_alerts(session, proposal) == 2
    edits = {r.chat_id: r for r in await outbox(sessions) if r.kind == "telegram_edit"}
    assert edits[501].payload["edit_of"] == immediate.outbox_id
    assert (
        Translator("nl").gettext("The citizen withdrew this proposal.")
        in edits[501].payload["text"]
    )
    assert edits[501].payload["buttons"] == []  # nothing left to take
    assert edits[502].payload["edit_of"] == in_digest.outbox_id
    assert (
        Translator("fr").gettext("The citizen withdrew this proposal.")
        in edits[502].payload["text"]
    )


# ------------------------------------------------------------------ the digest


async def test_the_digest_at_the_coach_time(sessions: async_sessionmaker[AsyncSession]) -> None:
    anne = await coach(
        sessions,
        501,
        language="fr",
        follows=((THEME, "compost"),),
        mode=DIGEST,
        digest_time=time(18, 0),
    )
    morning = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # 09:00 in Brussels
    await submit(sessions, "p1", now=morning)
    await submit(sessions, "p2", now=morning + timedelta(hours=1), title="Un deuxième compost")
    assert await outbox(sessions) == []
    assert [a.status for a in await alerts(sessions)] == [DIGEST_PENDING] * 2

    async def digests_at(moment: datetime) -> int:
        async with sessions.begin() as session:
            return await write_digests(session, moment)

    assert await digests_at(datetime(2026, 3, 2, 16, 59, tzinfo=UTC)) == 0  # 17:59 Brussels
    # a proposal after 18:00 waits for tomorrow's digest
    late = datetime(2026, 3, 2, 17, 30, tzinfo=UTC)
    await submit(sessions, "p3", now=late, title="Un troisième compost")
    assert await digests_at(datetime(2026, 3, 2, 18, 0, tzinfo=UTC)) == 1
    assert await digests_at(datetime(2026, 3, 2, 20, 0, tzinfo=UTC)) == 0  # one a day
    [digest] = await outbox(sessions)
    assert digest.dedupe_key == digest_key(anne, datetime(2026, 3, 2).date())
    assert "2 propositions" in digest.payload["text"] or "2 proposals" in digest.payload["text"]
    assert "Un deuxième compost" in digest.payload["text"]
    assert "troisième" not in digest.payload["text"]
    opened = [b["callback_data"] for row in digest.payload["buttons"] for b in row]
    assert [d.split(":")[1] for d in opened] == ["open", "open"]
    states = await alerts(sessions)
    assert [(a.status, a.outbox_id) for a in states] == [
        (QUEUED, digest.id),
        (QUEUED, digest.id),
        (DIGEST_PENDING, None),
    ]
    # the next day, at 18:00 Brussels time (17:00 UTC in winter)
    assert await digests_at(datetime(2026, 3, 3, 16, 59, tzinfo=UTC)) == 0
    assert await digests_at(datetime(2026, 3, 3, 17, 0, tzinfo=UTC)) == 1
    rows = await outbox(sessions)
    assert len(rows) == 2 and "troisième" in rows[1].payload["text"]
    assert rows[1].dedupe_key.endswith("2026-03-03")


async def test_run_digests_with_an_injected_clock(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await coach(sessions, 501, follows=((THEME, "compost"),), mode=DIGEST, digest_time=time(7, 30))
    await submit(sessions, "p1", now=datetime(2026, 7, 1, 4, 0, tzinfo=UTC))
    stop = asyncio.Event()
    seen: list[datetime] = []

    def clock() -> datetime:
        seen.append(datetime(2026, 7, 1, 5, 30, tzinfo=UTC))  # 07:30 in Brussels (summer)
        stop.set()  # one round only
        return seen[-1]

    await asyncio.wait_for(run_digests(sessions, stop, clock=clock, interval=60), timeout=10)
    assert len(seen) == 1
    [digest] = await outbox(sessions)
    assert digest.dedupe_key.endswith("2026-07-01")


async def test_taking_rewrites_the_digests(sessions: async_sessionmaker[AsyncSession]) -> None:
    await coach(sessions, 501, name="Anne", follows=((THEME, "compost"),), mode=DIGEST)
    await coach(sessions, 502, name="Bruno", follows=((THEME, "compost"),))
    await coach(sessions, 503, name="Carla", follows=((THEME, "compost"),), mode=DIGEST)
    await submit(sessions, "p1", now=datetime(2026, 3, 2, 5, 0, tzinfo=UTC))
    async with sessions.begin() as session:
        assert await write_digests(session, datetime(2026, 3, 2, 9, 0, tzinfo=UTC)) == 2
    anne, bruno, carla = await alerts(sessions)
    async with sessions.begin() as session:
        alert = await load_alert(session, bruno.id)
        assert alert is not None and (await take_alert(session, alert, NOW)).won
    edits = [r for r in await outbox(sessions) if r.kind == "telegram_edit"]
    assert sorted((e.chat_id, e.payload["edit_of"]) for e in edits) == [
        (501, anne.outbox_id),
        (503, carla.outbox_id),
    ]
    assert all("Bruno" in e.payload["text"] for e in edits)


async def test_a_taken_proposal_leaves_the_pending_digest(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await coach(sessions, 501, name="Anne", follows=((THEME, "compost"),), mode=DIGEST)
    await coach(sessions, 502, name="Bruno", follows=((THEME, "compost"),))
    await submit(sessions, "p1")
    _anne, bruno = await alerts(sessions)
    async with sessions.begin() as session:
        alert = await load_alert(session, bruno.id)
        assert alert is not None and (await take_alert(session, alert, NOW)).won
    async with sessions.begin() as session:
        assert await write_digests(session, NOW + timedelta(days=1)) == 0
    assert [a.status for a in await alerts(sessions)] == [TAKEN_BY_OTHER, QUEUED]


async def test_back_to_immediate_sends_what_waited(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await coach(sessions, 501, follows=((THEME, "compost"),), mode=DIGEST)
    await submit(sessions, "p1")
    await submit(sessions, "p2", title="Encore un compost")
    async with sessions.begin() as session:
        found = await coach_by_telegram(session, 501)
        assert found is not None
        found.mode = "immediate"
        assert await send_pending_now(session, found) == 2
    rows = await outbox(sessions)
    assert [r.dedupe_key for r in rows] == [f"coach-alert:{a.id}" for a in await alerts(sessions)]
    async with sessions() as session:
        proposals = (await session.execute(select(Proposal.title))).scalars().all()
    assert len(proposals) == 2
