"""Saved filters (storage.saved_filters) on SQLite and PostgreSQL: one's own and the team's,
replaced by name, deleted by their owner or, when shared, an admin."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.database import create_sessionmaker
from storage.saved_filters import delete_filter, filters_for, save_filter
from storage.staff import add_staff


async def test_own_and_shared_filters_replaced_by_name_deleted_by_whom_may(
    pg_or_sqlite: AsyncEngine,
) -> None:
    sessions = create_sessionmaker(pg_or_sqlite)
    async with sessions() as session, session.begin():
        anna = await add_staff(session, "anna@example.be", "not-a-hash", "reviewer")
        bram = await add_staff(session, "bram@example.be", "not-a-hash", "reviewer")
        chef = await add_staff(session, "chef@example.be", "not-a-hash", "admin")
        mine = await save_filter(session, anna, "  Mes   dossiers ", "assignee=me", shared=False)
        team = await save_filter(session, anna, "Schaerbeek", "commune=21015", shared=True)
        await save_filter(session, bram, "Compost", "theme=compost", shared=False)
    assert mine.name == "Mes dossiers"  # spaces squeezed

    async with sessions() as session, session.begin():
        again = await save_filter(session, anna, "Mes dossiers", "status=all", shared=False)
        assert again.id == mine.id and again.query == "status=all"
        assert [f.name for f in await filters_for(session, anna.id)] == [
            "Mes dossiers",
            "Schaerbeek",
        ]
        # the others see only what was shared
        assert [f.name for f in await filters_for(session, bram.id)] == ["Compost", "Schaerbeek"]

    async with sessions() as session, session.begin():
        assert not await delete_filter(session, mine.id, bram)  # not his
        assert not await delete_filter(session, mine.id, chef)  # personal: not even an admin
        assert await delete_filter(session, team.id, chef)  # shared: an admin may
        assert await delete_filter(session, mine.id, anna)
        assert not await delete_filter(session, mine.id, anna)  # already gone
        assert await filters_for(session, anna.id) == []


@pytest.mark.parametrize("name", ["", "   ", "x" * 81])
async def test_a_name_is_required_and_short(pg_or_sqlite: AsyncEngine, name: str) -> None:
    sessions = create_sessionmaker(pg_or_sqlite)
    async with sessions() as session, session.begin():
        anna = await add_staff(session, "anna@example.be", "not-a-hash", "reviewer")
        with pytest.raises(ValueError):
            await save_filter(session, anna, name, "", shared=False)
