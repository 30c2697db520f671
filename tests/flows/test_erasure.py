"""/delete_me leaves nothing that identifies the citizen: every column of every table, and
the logs, are searched after a full life (intake with contact details and location, staff
answer and note naming them, their reply, a webhook push, the staff group post)."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.flows.runner import Runner
from bot.services.announcements import Announcer
from bot.services.matcher import Matcher
from bot.services.review import apply_review
from storage.conversations import ConversationStore
from storage.database import create_sessionmaker
from storage.models import Base, OutboxMessage, Proposal, ProposalEvent
from storage.redaction import REDACTED, identity_of

TELEGRAM_ID = 731_904_562_118
"""Long enough that finding it by chance in another number is impossible."""
NAME = "Samira Benali-Van Damme"
EMAIL = "samira.benali@example.org"
PHONE_TYPED = "0470 12 34 56"
PHONE_STORED = "+32470123456"
LOCATION = (50.8676, 4.3737)  # Schaerbeek town hall
REPLY = f"Joignable au 0470/12.34.56 le soir ou à {EMAIL}, c'est pour la rue Josaphat 12."
TITLE = "Un potager collectif rue Josaphat"
DESCRIPTION = "Des bacs potagers et un compost pour les voisins de la rue, avec l'école."


@pytest.fixture
def engine(pg_or_sqlite: AsyncEngine) -> AsyncEngine:
    """On SQLite, then on PostgreSQL (where JSON is stored as JSONB)."""
    return pg_or_sqlite


@pytest.fixture
def runner(engine: AsyncEngine) -> Runner:
    """The runner as deployed with a staff group and an external back-office webhook."""
    store = ConversationStore(create_sessionmaker(engine))
    announcer = Announcer(staff_chat_id=-1001234, staff_language="fr", webhook=True)
    return Runner(
        store, Matcher(), default_language="fr", reference_prefix="BXL", announcer=announcer
    )


async def live_a_proposal(chat: Any) -> None:
    await chat.send("/start")
    await chat.press("Commencer")
    await chat.send(TITLE)
    await chat.send(DESCRIPTION)
    await chat.send_location(*LOCATION)
    await chat.press("Oui")
    await chat.press("groupe informel")
    await chat.press("continuer")
    await chat.choose("Alimentation")
    await chat.press("Terminé")
    if "différent" in str(chat.buttons()):
        await chat.press("différent")
    await chat.press("sais pas")
    await chat.press("équipe")
    await chat.send(NAME)
    await chat.send(PHONE_TYPED)
    for _ in range(4):  # the remaining contact and consent questions: yes to each
        if "Oui" not in str(chat.buttons()):
            break
        await chat.press("Oui")
    await chat.press("Envoyer")


def every_cell(rows: list[dict[str, Any]]) -> str:
    return "\n".join(json.dumps(row, ensure_ascii=False, default=str) for row in rows)


async def dump_database(engine: AsyncEngine) -> dict[str, str]:
    """Every table's rows as text."""
    found: dict[str, str] = {}
    async with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            rows = (await connection.execute(select(table))).mappings().all()
            found[table.name] = every_cell([dict(row) for row in rows])
    return found


async def test_nothing_identifies_the_citizen_after_erasure(
    make_chat: Any, engine: AsyncEngine, runner: Runner, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # the default LOG_LEVEL
    for ours in ("bot", "storage", "matching"):
        caplog.set_level(logging.DEBUG, logger=ours)
    chat = make_chat("fr", user_id=TELEGRAM_ID)
    await live_a_proposal(chat)
    sessions = create_sessionmaker(engine)
    async with sessions.begin() as session:
        proposal = (await session.execute(select(Proposal))).scalar_one()
        assert proposal.contact_name == NAME and proposal.contact_phone == PHONE_STORED
        assert proposal.consent_share, "the consents were given: the webhook carries contacts"
        await apply_review(
            session,
            runner.announcer,
            proposal,
            actor="agent@environnement.brussels",
            to_status="needs_info",
            answer="Bonjour Samira, pouvez-vous préciser l'adresse exacte ?",
            note=f"Samira Benali a appelé du {PHONE_TYPED} ({EMAIL}).",
        )
    await chat.send(REPLY)
    before = await dump_database(engine)
    assert NAME in before["proposals"] and REPLY in before["proposal_events"]
    assert any(EMAIL in text or NAME in text for text in (before["outbox"],))

    await chat.send("/delete_me")
    warning = chat.last_text()
    assert "encore en cours d’examen" in warning and proposal.reference in warning
    await chat.press("Oui, effacer")
    assert "vos données personnelles sont effacées" in chat.last_text()

    after = await dump_database(engine)
    identity = identity_of(TELEGRAM_ID, [(NAME, EMAIL, PHONE_STORED)])
    pattern = identity.pattern()
    secrets = [
        str(TELEGRAM_ID),
        NAME,
        "Samira",
        "Benali",
        EMAIL,
        PHONE_STORED,
        "470123456",
        REPLY,
        "Josaphat 12",
        str(LOCATION[0]),
        str(LOCATION[1]),
    ]
    for table, text in after.items():
        for secret in secrets:
            assert secret not in text, f"{secret!r} is still in {table}"
        assert not pattern.search(text), f"{pattern.search(text)} is still in {table}"
    for secret in secrets:
        assert secret not in caplog.text, f"{secret!r} is in the logs"

    async with sessions() as session:
        kept = (await session.execute(select(Proposal))).scalar_one()
        events = list((await session.execute(select(ProposalEvent))).scalars())
        outbox = list((await session.execute(select(OutboxMessage))).scalars())
    assert (kept.title, kept.description, kept.commune_refnis) == (TITLE, DESCRIPTION, "21015")
    assert kept.submission_key == f"erased-{kept.id}"
    answer = next(e for e in events if e.kind == "answer")
    assert answer.text == f"Bonjour {REDACTED}, pouvez-vous préciser l'adresse exacte ?"
    note = next(e for e in events if e.kind == "note")
    assert note.text == f"{REDACTED} {REDACTED} a appelé du {REDACTED} ({REDACTED})."
    assert next(e for e in events if e.kind == "reply").text is None
    assert [m.payload["event"] for m in outbox if m.kind == "webhook"] == ["proposal.anonymised"]
    assert any(m.chat_id == -1001234 for m in outbox), "the staff group post names nobody"
