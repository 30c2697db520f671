"""Answer templates (storage.answer_templates): saving, deleting, and which ones fit a
proposal's call and status, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.answer_templates import (
    TemplateError,
    all_templates,
    delete_template,
    save_template,
    template_by_id,
    templates_for,
)
from storage.database import create_engine, create_sessionmaker
from storage.models import AnswerTemplate
from tests.clock import TEST_NOW

ADMIN = "admin@example.brussels"


@pytest.fixture
async def sessions(any_database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(any_database_url)
    yield create_sessionmaker(engine)
    await engine.dispose()


async def add(
    session: AsyncSession, name: str, call_id: str | None = None, status: str | None = None
) -> AnswerTemplate:
    return await save_template(
        session,
        None,
        name=name,
        call_id=call_id,
        status=status,
        texts={"fr": f"Bonjour, {name}"},
        updated_by=ADMIN,
        now=TEST_NOW,
    )


async def test_a_template_is_saved_rewritten_and_deleted(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session, session.begin():
        template = await save_template(
            session,
            None,
            name="  Accord  ",
            call_id="inspirons_projet",
            status="accepted",
            texts={"fr": " Bonjour {first_name}, ", "nl": "", "en": None},
            updated_by=ADMIN,
            now=TEST_NOW,
        )
        template_id = template.id
    async with sessions() as session:
        stored = await template_by_id(session, template_id)
        assert stored is not None
        assert (stored.name, stored.call_id, stored.status) == (
            "Accord",
            "inspirons_projet",
            "accepted",
        )
        assert (stored.text("fr"), stored.text("nl"), stored.text("en")) == (
            "Bonjour {first_name},",
            None,
            None,
        )
        assert (stored.updated_by, stored.updated_at) == (ADMIN, TEST_NOW)

    later = TEST_NOW + timedelta(hours=1)
    async with sessions() as session, session.begin():
        stored = await template_by_id(session, template_id)
        await save_template(
            session,
            stored,
            name="Accord",
            call_id=None,
            status=None,
            texts={"nl": "Dag {first_name},"},
            updated_by="bram@example.brussels",
            now=later,
        )
    async with sessions() as session:
        [stored] = await all_templates(session)
        assert (stored.id, stored.call_id, stored.status) == (template_id, None, None)
        assert (stored.text("fr"), stored.text("nl")) == (None, "Dag {first_name},")
        assert (stored.updated_by, stored.updated_at) == ("bram@example.brussels", later)

    async with sessions() as session, session.begin():
        assert await delete_template(session, template_id)
        assert not await delete_template(session, template_id)
    async with sessions() as session:
        assert await all_templates(session) == []


@pytest.mark.parametrize(
    ("name", "texts", "code"),
    [
        ("", {"fr": "Bonjour"}, "name"),
        ("x" * 121, {"fr": "Bonjour"}, "name"),
        ("Accord", {"fr": "  ", "nl": ""}, "no_text"),
        ("Accord", {"en": "x" * 3001}, "too_long"),
    ],
)
async def test_a_template_needs_a_name_and_a_text(
    sessions: async_sessionmaker[AsyncSession], name: str, texts: dict[str, str], code: str
) -> None:
    async with sessions() as session, session.begin():
        with pytest.raises(TemplateError) as raised:
            await save_template(
                session, None, name=name, call_id=None, status=None, texts=texts, updated_by=ADMIN
            )
        assert raised.value.code == code
    async with sessions() as session:
        assert await all_templates(session) == []


async def test_the_templates_that_fit_a_proposal_its_call_first_then_its_status(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session, session.begin():
        for name, call_id, status in [
            ("any call, any status", None, None),
            ("any call, accepted", None, "accepted"),
            ("any call, rejected", None, "rejected"),
            ("projet, any status", "inspirons_projet", None),
            ("projet, accepted", "inspirons_projet", "accepted"),
            ("projet, accepted, again", "inspirons_projet", "accepted"),
            ("coup de pouce, accepted", "inspirons_coup_de_pouce", "accepted"),
        ]:
            await add(session, name, call_id, status)

    async with sessions() as session:

        async def names(call_id: str | None, status: str | None) -> list[str]:
            return [t.name for t in await templates_for(session, call_id, status)]

        assert await names("inspirons_projet", "accepted") == [
            "projet, accepted",
            "projet, accepted, again",
            "projet, any status",
            "any call, accepted",
            "any call, any status",
        ]
        assert await names("inspirons_projet", "needs_info") == [
            "projet, any status",
            "any call, any status",
        ]
        # The status not chosen yet: every status, those without one first.
        assert await names("inspirons_projet", None) == [
            "projet, any status",
            "projet, accepted",
            "projet, accepted, again",
            "any call, any status",
            "any call, accepted",
            "any call, rejected",
        ]
        # A proposal without a call: only the templates for any call.
        assert await names(None, "rejected") == ["any call, rejected", "any call, any status"]
        # The list: "any call" first, then by call.
        assert [t.name for t in await all_templates(session)] == [
            "any call, accepted",
            "any call, any status",
            "any call, rejected",
            "coup de pouce, accepted",
            "projet, accepted",
            "projet, accepted, again",
            "projet, any status",
        ]
