"""The retention job: abandoned drafts and the personal data of decided proposals go after
the periods the privacy notice states (`storage.retention`). It runs in the dispatcher
process (`intake dispatch`, or `intake run`), once an hour; several dispatchers may run
it at the same time (each round is one transaction, and erasing twice erases nothing more).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.services.announcements import Announcer
from bot.services.review import review_key
from storage.clock import utcnow
from storage.outbox import forget_messages
from storage.proposals import anonymise_proposal, identity_of_proposals
from storage.retention import (
    DEFAULT_RETENTION,
    RetentionPolicy,
    delete_forgotten_citizens,
    delete_idle_conversations,
    proposals_to_anonymise,
)

log = logging.getLogger(__name__)

RETENTION_INTERVAL_SECONDS = 3600.0
BATCH = 200
"""Proposals anonymised per transaction, so that a first run on a large database does not
hold one long transaction."""


@dataclass(frozen=True)
class DataPolicy:
    """What the privacy notice tells citizens, from the settings."""

    controller: str | None = None
    """Who is responsible for the data (DATA_CONTROLLER); None when not configured."""
    retention: RetentionPolicy = DEFAULT_RETENTION


NO_POLICY = DataPolicy()
"""No controller named, the default periods (tests, the preview bot)."""


@dataclass
class RetentionReport:
    conversations: int = 0
    proposals: int = 0
    citizens: int = 0


async def retention_round(
    sessionmaker: async_sessionmaker[AsyncSession],
    policy: RetentionPolicy,
    announcer: Announcer,
    now: datetime,
) -> RetentionReport:
    report = RetentionReport()
    async with sessionmaker.begin() as session:
        report.conversations = await delete_idle_conversations(session, before=now - policy.drafts)
    while True:
        async with sessionmaker.begin() as session:
            due = await proposals_to_anonymise(
                session, decided_before=now - policy.decided, limit=BATCH
            )
            for proposal, telegram_id in due:
                identity = identity_of_proposals(telegram_id, [proposal])
                keys = [review_key(event.id) for event in proposal.events]
                await anonymise_proposal(session, proposal, identity, now=now, actor="retention")
                await session.flush()
                await forget_messages(session, identity=identity, dedupe_keys=keys)
                await announcer.anonymised(session, proposal)
            report.proposals += len(due)
        if len(due) < BATCH:
            break
    async with sessionmaker.begin() as session:
        report.citizens = await delete_forgotten_citizens(session)
    return report


async def run_retention(
    sessionmaker: async_sessionmaker[AsyncSession],
    policy: RetentionPolicy,
    announcer: Announcer,
    stop: asyncio.Event,
    *,
    clock: Callable[[], datetime] = utcnow,
    interval: float = RETENTION_INTERVAL_SECONDS,
) -> None:
    """Apply the retention periods every `interval` seconds until `stop` is set."""
    log.info(
        "retention started: drafts %d days, decided proposals %d days",
        policy.drafts.days,
        policy.decided.days,
    )
    while not stop.is_set():
        try:
            report = await retention_round(sessionmaker, policy, announcer, clock())
            if report.conversations or report.proposals or report.citizens:
                log.info(
                    "retention: %d conversation(s) deleted, %d proposal(s) anonymised, "
                    "%d citizen(s) forgotten",
                    report.conversations,
                    report.proposals,
                    report.citizens,
                )
        except Exception:
            log.exception("retention round failed")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(interval):
                await stop.wait()
    log.info("retention stopped")
