"""Back-office queries (storage.review) on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import storage.staff  # noqa: F401  (the staff table on Base.metadata)
from storage.database import create_engine, create_sessionmaker
from storage.models import Initiative, Proposal
from storage.proposals import NewMatch
from storage.review import ProposalFilters, proposal_detail, search_proposals, status_counts
from tests.factories import make_citizen, make_proposal


@pytest.fixture
async def sessions(any_database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(any_database_url)
    yield create_sessionmaker(engine)
    await engine.dispose()


def fields_of(**fields: Any) -> dict[str, Any]:
    """A proposal's fields: a French one in Bruxelles about food, but for `fields`."""
    values: dict[str, Any] = {
        "title": "Un projet",
        "description": "Une description assez longue pour le quartier et ses habitants.",
        "commune_refnis": "21004",
        "themes": ["food"],
    }
    values.update(fields)
    return values


@pytest.fixture
async def data(sessions: async_sessionmaker[AsyncSession]) -> dict[str, str]:
    refs: dict[str, str] = {}
    async with sessions() as session, session.begin():
        citizen = await make_citizen(session, 77, "fr")
        specs = {
            "potager": (
                datetime(2026, 3, 1, 10, tzinfo=UTC),
                fields_of(
                    title="Potager collectif",
                    themes=["food", "nature"],
                    call_id="inspirons_projet",
                    budget_cents=100_000,
                ),
            ),
            # 22:30 UTC on 31 March is 00:30 on 1 April in Brussels (summer time).
            "compost": (
                datetime(2026, 3, 31, 22, 30, tzinfo=UTC),
                fields_of(
                    language="nl",
                    title="Wijkcompost",
                    description="Een compostbak voor de hele straat en de school.",
                    themes=["compost"],
                    commune_refnis="21013",
                    budget_cents=None,
                ),
            ),
            "shop": (
                datetime(2026, 4, 15, 9, tzinfo=UTC),
                fields_of(
                    language="en",
                    title="A 100% zero_waste shop",
                    themes=["zero_waste"],
                    budget_cents=250_000,
                ),
            ),
            "test": (
                datetime(2026, 4, 20, 9, tzinfo=UTC),
                fields_of(title="Test potager", is_test=True, budget_cents=5),
            ),
        }
        for name, (when, fields) in specs.items():
            stored = await make_proposal(session, citizen, now=when, **fields)
            refs[name] = stored.reference
        await session.flush()
        compost = await session.get(Proposal, 2)
        assert compost is not None and compost.reference == refs["compost"]
        compost.status = "in_review"
    return refs


async def search(
    sessions: async_sessionmaker[AsyncSession], sort: str = "newest", **filters: object
) -> list[str]:
    async with sessions() as session:
        rows, total = await search_proposals(
            session,
            ProposalFilters(**filters),
            sort=sort,
            page=1,
            per_page=50,  # type: ignore[arg-type]
        )
    assert total == len(rows)
    return [row.title for row in rows]


async def test_no_filter_hides_tests_newest_first(
    sessions: async_sessionmaker[AsyncSession], data: dict[str, str]
) -> None:
    assert await search(sessions) == ["A 100% zero_waste shop", "Wijkcompost", "Potager collectif"]
    assert len(await search(sessions, include_tests=True)) == 4


async def test_filters(sessions: async_sessionmaker[AsyncSession], data: dict[str, str]) -> None:
    assert await search(sessions, status="in_review") == ["Wijkcompost"]
    assert await search(sessions, theme="nature") == ["Potager collectif"]
    assert await search(sessions, theme="zero_waste") == ["A 100% zero_waste shop"]
    assert await search(sessions, theme="water") == []
    assert await search(sessions, commune="21013") == ["Wijkcompost"]
    assert await search(sessions, call="inspirons_projet") == ["Potager collectif"]
    assert await search(sessions, language="en") == ["A 100% zero_waste shop"]
    assert await search(sessions, text="POTAGER") == ["Potager collectif"]
    assert await search(sessions, text="potager", include_tests=True) == [
        "Test potager",
        "Potager collectif",
    ]
    assert await search(sessions, text="compostbak") == ["Wijkcompost"]
    assert await search(sessions, text=data["shop"].lower()) == ["A 100% zero_waste shop"]
    # LIKE wildcards typed by the staff member are literal characters.
    assert await search(sessions, text="100%") == ["A 100% zero_waste shop"]
    assert await search(sessions, text="_") == ["A 100% zero_waste shop"]
    assert await search(sessions, theme="food", commune="21004", language="fr") == [
        "Potager collectif"
    ]


async def test_dates_are_brussels_days_inclusive(
    sessions: async_sessionmaker[AsyncSession], data: dict[str, str]
) -> None:
    march = await search(sessions, date_from=date(2026, 3, 1), date_to=date(2026, 3, 31))
    assert march == ["Potager collectif"]
    assert await search(sessions, date_from=date(2026, 4, 1), date_to=date(2026, 4, 1)) == [
        "Wijkcompost"
    ]
    assert await search(sessions, date_from=date(2026, 4, 15)) == ["A 100% zero_waste shop"]
    assert await search(sessions, date_to=date(2026, 3, 1)) == ["Potager collectif"]


async def test_sorts(sessions: async_sessionmaker[AsyncSession], data: dict[str, str]) -> None:
    assert await search(sessions, sort="oldest") == [
        "Potager collectif",
        "Wijkcompost",
        "A 100% zero_waste shop",
    ]
    assert await search(sessions, sort="budget") == [
        "A 100% zero_waste shop",
        "Potager collectif",
        "Wijkcompost",
    ]
    # In workflow order (submitted before in review), then newest first.
    assert await search(sessions, sort="status") == [
        "A 100% zero_waste shop",
        "Potager collectif",
        "Wijkcompost",
    ]
    async with sessions() as session:
        rows, _ = await search_proposals(
            session, ProposalFilters(), sort="reference", page=1, per_page=9
        )
    assert [r.reference for r in rows] == sorted(r.reference for r in rows)
    async with sessions() as session:
        with pytest.raises(ValueError):
            await search_proposals(session, ProposalFilters(), sort="bogus", page=1, per_page=9)


async def test_pages(sessions: async_sessionmaker[AsyncSession], data: dict[str, str]) -> None:
    async with sessions() as session:
        first, total = await search_proposals(
            session, ProposalFilters(), sort="oldest", page=1, per_page=2
        )
        second, total2 = await search_proposals(
            session, ProposalFilters(), sort="oldest", page=2, per_page=2
        )
        beyond, total3 = await search_proposals(
            session, ProposalFilters(), sort="oldest", page=3, per_page=2
        )
    assert total == total2 == total3 == 3
    assert [p.title for p in first] == ["Potager collectif", "Wijkcompost"]
    assert [p.title for p in second] == ["A 100% zero_waste shop"]
    assert beyond == []


async def test_status_counts(
    sessions: async_sessionmaker[AsyncSession], data: dict[str, str]
) -> None:
    async with sessions() as session:
        counts = await status_counts(session)
        with_tests = await status_counts(session, include_tests=True)
    assert counts["submitted"] == 2 and counts["in_review"] == 1
    assert counts["accepted"] == 0 and counts["withdrawn"] == 0
    assert with_tests["submitted"] == 3


async def test_proposal_detail_loads_events_and_matches(
    sessions: async_sessionmaker[AsyncSession], data: dict[str, str]
) -> None:
    async with sessions() as session, session.begin():
        initiative = Initiative(external_id="x1", name="Compost Saint-Gilles", themes=["compost"])
        session.add(initiative)
        await session.flush()
        citizen = await make_citizen(session, 78, "nl")
        stored = await make_proposal(
            session,
            citizen,
            **fields_of(title="Compost", themes=["compost"]),
            matches=[
                NewMatch(
                    0.8, ["same_commune", "shared_concepts:compost"], initiative_id=initiative.id
                ),
                NewMatch(0.4, ["shared_themes:compost"], other_proposal_id=2),
            ],
        )
        reference = stored.reference
    async with sessions() as session:
        proposal = await proposal_detail(session, reference)
        missing = await proposal_detail(session, "BXL-1999-00001")
    assert missing is None
    assert proposal is not None
    # Everything is loaded: usable after the session is closed.
    assert [e.to_status for e in proposal.events] == ["submitted"]
    assert [m.rank for m in proposal.matches] == [1, 2]
    first, second = proposal.matches
    assert first.initiative is not None and first.initiative.name == "Compost Saint-Gilles"
    assert first.reasons == ["same_commune", "shared_concepts:compost"]
    assert second.other_proposal is not None
    assert second.other_proposal.reference == data["compost"]
