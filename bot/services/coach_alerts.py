"""Coach alerts: who is alerted about a submitted proposal, what they read, the daily digest.

Who gets an alert (exactly one per coach and proposal, whatever the number of reasons; test
proposals alert nobody; paused, removed and not yet linked coaches get nothing):

- a coach who follows an initiative that the proposal matched with a score at or above
  the threshold (the setting ``COACH_ALERT_THRESHOLD``);
- a coach who follows themes *and* communes: when the proposal has one of the themes *and*
  is in one of the communes;
- a coach who follows only themes: when the proposal has one of them, wherever it is;
- a coach who follows only communes: when the proposal is in one of them, whatever its
  themes.

A proposal for the whole region counts as being in every commune.

An alert shows the title, the reference, the commune, the themes, the budget, the start of
the description, the matched initiatives at or above the threshold with their score and
reasons (worded like the back-office, `bot.text.wording`), whether the citizen asked to be put in
touch, and why the coach receives it. Buttons: "I'll take it" (the first coach wins; the
others' alerts are edited through ``telegram_edit`` outbox rows to say who took it), "Not
relevant" (feedback on the match, shown to staff) and "Contact the citizen" (only when the
citizen agreed to share their contact details with coaches).

Coaches in immediate mode get the alert through the outbox, in the same transaction as the
submission. Coaches in digest mode get one message per day at their time of day (Europe/
Brussels), written by `run_digests`: it gathers the alerts created before that time; alerts
that arrive later wait for the next day's digest. The digest lists them with one button each
that opens the full alert (with its buttons). At most `DIGEST_LIMIT` alerts per digest; the
rest wait for the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from babel.numbers import format_percent
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.text.i18n import Translator
from bot.text.markup import escape
from bot.text.parsers import display_phone
from bot.text.wording import commune_name, money, reason_text, themes_text
from matching.communes import commune_by_refnis
from matching.themes import theme_label
from storage.clock import BRUSSELS, utcnow
from storage.coaches import (
    COMMUNE,
    DIGEST,
    DIGEST_PENDING,
    INITIATIVE,
    QUEUED,
    TAKEN_BY_OTHER,
    THEME,
    add_alert,
    alert_by_id,
    alertable_coaches,
    alerts_in_message,
    alerts_of_proposal,
    coach_by_id,
    coaches_with_pending_digest,
    initiatives_by_id,
    mark_delivered_alerts,
    pending_digest_alerts,
    take_of,
    take_proposal,
)
from storage.models import Coach, CoachAlert, CoachTake, Proposal, ProposalMatch
from storage.outbox import enqueue, outbox_row

log = logging.getLogger(__name__)

ALERT_PREFIX = "alert:"
TAKE, NOT_RELEVANT, CONTACT, OPEN = "take", "nr", "contact", "open"
SHOWN_MATCHES = 3
SHOWN_REASONS = 3
DESCRIPTION_LENGTH = 300
DIGEST_LIMIT = 20
DIGEST_INTERVAL_SECONDS = 30.0
DEEP_LINK_PREFIX = "coach-"

Buttons = list[list[dict[str, str]]]


# ------------------------------------------------------------------ who is alerted


@dataclass(frozen=True)
class Follows:
    initiatives: frozenset[int] = frozenset()
    themes: frozenset[str] = frozenset()
    communes: frozenset[str] = frozenset()

    @classmethod
    def of(cls, coach: Coach) -> Follows:
        return cls(
            initiatives=frozenset(int(v) for v in coach.followed(INITIATIVE)),
            themes=frozenset(coach.followed(THEME)),
            communes=frozenset(coach.followed(COMMUNE)),
        )


def alert_reasons(
    follows: Follows,
    *,
    themes: Sequence[str],
    commune: str | None,
    region_wide: bool,
    matched: dict[int, float],
    threshold: float,
) -> dict[str, Any] | None:
    """Why a coach who follows `follows` is alerted (see the module's docstring), or None.

    `matched` maps the ids of the initiatives the proposal matched to their score.
    """
    initiatives = sorted(
        i for i, score in matched.items() if i in follows.initiatives and score >= threshold
    )
    theme_hits = [theme for theme in themes if theme in follows.themes]
    in_commune = commune is not None and commune in follows.communes
    place = region_wide or in_commune
    if follows.themes and follows.communes:
        area = bool(theme_hits) and place
    elif follows.themes:
        area = bool(theme_hits)
    elif follows.communes:
        area = place
    else:
        area = False
    if not initiatives and not area:
        return None
    return {
        "initiatives": initiatives,
        "themes": theme_hits if area else [],
        "communes": [commune] if area and in_commune else [],
        "region": bool(area and region_wide and follows.communes),
    }


async def _initiative_matches(session: AsyncSession, proposal: Proposal) -> list[ProposalMatch]:
    await session.flush()
    result = await session.execute(
        select(ProposalMatch)
        .where(ProposalMatch.proposal_id == proposal.id, ProposalMatch.initiative_id.is_not(None))
        .order_by(ProposalMatch.rank)
    )
    return list(result.scalars())


async def enqueue_coach_alerts(
    session: AsyncSession, proposal: Proposal, *, threshold: float, now: datetime | None = None
) -> int:
    """Alert the coaches concerned by a just-submitted proposal; the number of alerts.

    Runs in the submission's transaction: the alerts and their outbox rows commit with it.
    """
    if proposal.is_test:
        return 0
    moment = now or utcnow()
    matches = await _initiative_matches(session, proposal)
    scores = {m.initiative_id: m.score for m in matches if m.initiative_id is not None}
    count = 0
    for coach in await alertable_coaches(session):
        why = alert_reasons(
            Follows.of(coach),
            themes=proposal.themes,
            commune=proposal.commune_refnis,
            region_wide=proposal.region_wide,
            matched=scores,
            threshold=threshold,
        )
        if why is None:
            continue
        followed = set(why["initiatives"])
        shown = sorted(
            (m for m in matches if m.score >= threshold),
            key=lambda m: (m.initiative_id not in followed, -m.score),
        )
        why["matches"] = [m.id for m in shown[:SHOWN_MATCHES]]
        status = DIGEST_PENDING if coach.mode == DIGEST else QUEUED
        alert = await add_alert(session, coach, proposal, status=status, why=why, now=moment)
        if alert is None:
            continue
        count += 1
        if status == QUEUED:
            await queue_alert(session, alert, coach, proposal)
    return count


async def _outbox_id(session: AsyncSession, dedupe_key: str) -> int | None:
    row = await outbox_row(session, dedupe_key)
    return None if row is None else row.id


async def queue_alert(
    session: AsyncSession, alert: CoachAlert, coach: Coach, proposal: Proposal
) -> None:
    """Put one alert in the outbox, as a message of its own."""
    assert coach.chat_id is not None
    card = await render_alert(session, alert, coach, proposal)
    key = f"coach-alert:{alert.id}"
    await enqueue(
        session,
        kind="telegram",
        chat_id=coach.chat_id,
        payload={"text": card.text, "buttons": card.buttons},
        dedupe_key=key,
    )
    alert.outbox_id = await _outbox_id(session, key)
    alert.status = QUEUED
    alert.digest_date = None


# ------------------------------------------------------------------ what an alert says


@dataclass
class Card:
    text: str
    buttons: Buttons


def alert_data(action: str, alert_id: int) -> str:
    return f"{ALERT_PREFIX}{action}:{alert_id}"


def contact_shareable(proposal: Proposal) -> bool:
    """The citizen agreed to share contact details with coaches, and gave some."""
    return bool(
        proposal.consent_share
        and proposal.anonymised_at is None
        and (proposal.contact_name or proposal.contact_email or proposal.contact_phone)
    )


def _score(t: Translator, score: float) -> str:
    return str(format_percent(score, locale=t.locale))


def _reasons(t: Translator, codes: list[str]) -> str:
    telling = [c for c in codes if not c.startswith("similar_words")]
    chosen = (telling or codes)[:SHOWN_REASONS]
    return " · ".join(reason_text(t, code) for code in chosen)


def _why_text(t: Translator, why: dict[str, Any], names: dict[int, str]) -> str:
    things = [
        t.gettext("the initiative {name}").format(name=names.get(i, "?"))
        for i in why.get("initiatives", [])
    ]
    for theme in why.get("themes", []):
        try:
            label = theme_label(theme, t.language)
        except KeyError:
            label = theme
        things.append(t.gettext("the theme {theme}").format(theme=label))
    for refnis in why.get("communes", []):
        try:
            name = commune_by_refnis(refnis).name(t.language)
        except KeyError:
            name = refnis
        things.append(t.gettext("the commune {commune}").format(commune=name))
    text = t.gettext("Why you receive this: you follow {things}.").format(things=", ".join(things))
    if why.get("region"):
        text += " " + t.gettext("This proposal is for the whole region.")
    return escape(text)


def _put_in_touch(t: Translator, proposal: Proposal) -> str:
    similar = proposal.similar or {}
    if similar.get("choice") == "connect":
        return "🤝 " + escape(
            t.gettext("The citizen would like to be put in touch with {name}.").format(
                name=similar.get("name") or "?"
            )
        )
    return "🤝 " + t.gettext("The citizen did not ask to be put in touch with anyone.")


async def render_alert(
    session: AsyncSession,
    alert: CoachAlert,
    coach: Coach,
    proposal: Proposal,
    take: CoachTake | None = None,
) -> Card:
    """The alert as `coach` reads it now (taken, feedback given), with its buttons."""
    t = Translator(coach.language)
    if take is None:
        take = await take_of(session, proposal.id)
    match_ids = [int(i) for i in alert.why.get("matches", [])]
    matches: list[ProposalMatch] = []
    if match_ids:
        result = await session.execute(select(ProposalMatch).where(ProposalMatch.id.in_(match_ids)))
        by_id = {m.id: m for m in result.scalars()}
        matches = [by_id[i] for i in match_ids if i in by_id]
    initiative_ids = {m.initiative_id for m in matches if m.initiative_id is not None}
    initiative_ids.update(int(i) for i in alert.why.get("initiatives", []))
    names = await _initiative_names(session, initiative_ids)
    followed = {int(i) for i in alert.why.get("initiatives", [])}

    budget = (
        money(t, proposal.budget_cents) if proposal.budget_cents else t.gettext("not known yet")
    )
    description = proposal.description
    if len(description) > DESCRIPTION_LENGTH:
        description = description[: DESCRIPTION_LENGTH - 1].rstrip() + "…"
    lines = [
        "🔔 <b>" + t.gettext("A new proposal for you") + "</b>",
        "",
        f"<b>{escape(proposal.title)}</b>",
        f"{escape(proposal.reference)} · 📍 {escape(commune_name(t, proposal))}",
        "🏷 " + escape(themes_text(t, proposal.themes) or "—"),
        "💶 " + escape(budget),
        f"<i>{escape(description)}</i>",
        "",
    ]
    if matches:
        lines.append("<b>" + t.gettext("Similar initiatives:") + "</b>")
        for match in matches:
            assert match.initiative_id is not None
            pin = "📌 " if match.initiative_id in followed else ""
            lines.append(
                f"• {pin}<b>{escape(names.get(match.initiative_id, '?'))}</b> — "
                f"{escape(_score(t, match.score))} · {escape(_reasons(t, match.reasons))}"
            )
    else:
        lines.append(t.gettext("No initiative of the catalogue is close enough."))
    lines += [
        "",
        _put_in_touch(t, proposal),
        "📇 "
        + (
            t.gettext("The citizen agreed to share their contact details with coaches.")
            if contact_shareable(proposal)
            else t.gettext("The citizen did not agree to share their contact details.")
        ),
        "",
        "<i>" + _why_text(t, alert.why, names) + "</i>",
    ]
    if proposal.status == "withdrawn":
        lines += ["", "↩ <b>" + t.gettext("The citizen withdrew this proposal.") + "</b>"]
        return Card("\n".join(lines), [])
    mine = take is not None and take.coach_id == alert.coach_id
    if mine:
        lines += ["", "✅ <b>" + t.gettext("You took it.") + "</b>"]
    elif take is not None:
        lines += [
            "",
            "✋ <b>" + escape(t.gettext("Taken by {name}.").format(name=take.coach.name)) + "</b>",
        ]
    if alert.feedback:
        lines += ["", "👎 " + t.gettext("You marked it as not relevant; the staff will see it.")]
    first_row: list[dict[str, str]] = []
    if take is None:
        first_row.append(
            {"text": "🙋 " + t.gettext("I'll take it"), "callback_data": alert_data(TAKE, alert.id)}
        )
    if not alert.feedback and not mine:
        first_row.append(
            {
                "text": "👎 " + t.gettext("Not relevant"),
                "callback_data": alert_data(NOT_RELEVANT, alert.id),
            }
        )
    buttons: Buttons = [first_row] if first_row else []
    if contact_shareable(proposal):
        buttons.append(
            [
                {
                    "text": "📇 " + t.gettext("Contact the citizen"),
                    "callback_data": alert_data(CONTACT, alert.id),
                }
            ]
        )
    return Card("\n".join(lines), buttons)


async def _initiative_names(session: AsyncSession, ids: set[int]) -> dict[int, str]:
    found = await initiatives_by_id(session, sorted(ids))
    return {i: initiative.name for i, initiative in found.items()}


def contact_text(language: str, proposal: Proposal) -> str:
    """The contact details the citizen agreed to share (only called when they did)."""
    t = Translator(language)
    field = t.gettext("<b>{label}</b>: {value}")
    lines = [
        "📇 <b>"
        + escape(
            t.gettext("How to reach the citizen of {reference}").format(
                reference=proposal.reference
            )
        )
        + "</b>",
        f"<i>{escape(proposal.title)}</i>",
        "",
    ]
    for label, value in (
        (t.gettext("Name"), proposal.contact_name),
        (t.gettext("E-mail address"), proposal.contact_email),
        (t.gettext("Phone"), proposal.contact_phone and display_phone(proposal.contact_phone)),
    ):
        if value:
            lines.append(field.format(label=label, value=escape(value)))
    lines += [
        "",
        t.gettext(
            "The citizen agreed to share these details with coaches. Please use them only "
            "about this proposal."
        ),
    ]
    return "\n".join(lines)


# ------------------------------------------------------------------ taking a proposal


@dataclass
class TakeOutcome:
    won: bool
    take: CoachTake


async def take_alert(
    session: AsyncSession, alert: CoachAlert, now: datetime | None = None
) -> TakeOutcome:
    """The alert's coach takes its proposal, unless someone was first.

    When this coach wins, the other coaches' alerts about the proposal say who took it:
    their own messages are edited through the outbox, and waiting digest alerts are dropped.
    """
    take, won = await take_proposal(session, alert.proposal_id, alert.coach_id, now)
    if not won:
        return TakeOutcome(False, take)
    proposal = alert.proposal
    others = await alerts_of_proposal(session, alert.proposal_id)
    for other in others:
        if other.id != alert.id and other.status != TAKEN_BY_OTHER:
            other.status = TAKEN_BY_OTHER
    # The taker's own message is edited by the button press itself; their digest is not.
    shown = [a for a in others if a.id != alert.id or a.digest_date is not None]
    await _show_current_state(session, proposal, shown, "taken", take)
    return TakeOutcome(True, take)


async def withdraw_alerts(session: AsyncSession, proposal: Proposal) -> int:
    """The citizen withdrew the proposal: every alert about it says so, without buttons.

    Returns the number of edits queued.
    """
    alerts = await alerts_of_proposal(session, proposal.id)
    return await _show_current_state(session, proposal, alerts, "withdrawn")


async def _show_current_state(
    session: AsyncSession,
    proposal: Proposal,
    alerts: Sequence[CoachAlert],
    change: str,
    take: CoachTake | None = None,
) -> int:
    """Edit alerts already queued or sent to show the proposal as it is now (through the
    outbox), and rewrite the digests that carry some; the number of edits queued."""
    edits = 0
    digests: set[int] = set()
    for alert in alerts:
        coach = alert.coach
        if alert.outbox_id is None or coach.chat_id is None:
            continue
        if alert.digest_date is not None:
            digests.add(alert.outbox_id)
            continue
        card = await render_alert(session, alert, coach, proposal, take)
        await enqueue(
            session,
            kind="telegram_edit",
            chat_id=coach.chat_id,
            payload={"edit_of": alert.outbox_id, "text": card.text, "buttons": card.buttons},
            dedupe_key=f"coach-{change}:{alert.id}",
        )
        edits += 1
    for outbox_id in sorted(digests):
        await queue_digest_edit(
            session, outbox_id, f"coach-digest-{change}:{outbox_id}:{proposal.id}"
        )
        edits += 1
    return edits


async def load_alert(session: AsyncSession, alert_id: int) -> CoachAlert | None:
    return await alert_by_id(session, alert_id)


# ------------------------------------------------------------------ the daily digest


def _due(now: datetime, coach: Coach) -> tuple[date, datetime]:
    """The coach's digest day in Brussels and the UTC moment it is due on that day."""
    local = now.astimezone(BRUSSELS)
    due = datetime.combine(local.date(), coach.digest_time, tzinfo=BRUSSELS)
    return local.date(), due.astimezone(UTC)


def digest_key(coach_id: int, day: date) -> str:
    return f"coach-digest:{coach_id}:{day.isoformat()}"


async def render_digest(session: AsyncSession, coach: Coach, alerts: Sequence[CoachAlert]) -> Card:
    t = Translator(coach.language)
    lines = [
        "📰 <b>"
        + t.ngettext(
            "Your daily digest: one proposal for you",
            "Your daily digest: {count} proposals for you",
            len(alerts),
        ).format(count=len(alerts))
        + "</b>"
    ]
    buttons: Buttons = []
    for number, alert in enumerate(alerts, start=1):
        proposal = alert.proposal
        take = await take_of(session, proposal.id)
        lines.append(
            f"\n{number}. <b>{escape(proposal.title)}</b>\n"
            f"{escape(proposal.reference)} · {escape(commune_name(t, proposal))} · "
            f"{escape(themes_text(t, proposal.themes) or '—')}"
        )
        if proposal.status == "withdrawn":
            lines.append("↩ " + t.gettext("The citizen withdrew this proposal."))
        elif take is not None and take.coach_id == coach.id:
            lines.append("✅ " + t.gettext("You took it."))
        elif take is not None:
            lines.append("✋ " + escape(t.gettext("Taken by {name}.").format(name=take.coach.name)))
        title = proposal.title if len(proposal.title) <= 40 else proposal.title[:39] + "…"
        buttons.append(
            [{"text": f"📄 {number}. {title}", "callback_data": alert_data(OPEN, alert.id)}]
        )
    lines += ["", t.gettext("Tap a proposal to read it in full, take it or give feedback.")]
    return Card("\n".join(lines), buttons)


async def queue_digest_edit(session: AsyncSession, outbox_id: int, dedupe_key: str) -> None:
    """Rewrite a digest already queued (or sent) from its alerts' current state."""
    alerts = await alerts_in_message(session, outbox_id)
    if not alerts:
        return
    coach = await coach_by_id(session, alerts[0].coach_id)
    if coach is None or coach.chat_id is None:
        return
    card = await render_digest(session, coach, alerts)
    await enqueue(
        session,
        kind="telegram_edit",
        chat_id=coach.chat_id,
        payload={"edit_of": outbox_id, "text": card.text, "buttons": card.buttons},
        dedupe_key=dedupe_key,
    )


async def send_pending_now(session: AsyncSession, coach: Coach) -> int:
    """Alerts waiting for a digest go out one by one now (the coach chose immediate alerts)."""
    alerts = await pending_digest_alerts(session, coach.id, utcnow(), limit=1000)
    for alert in alerts:
        await queue_alert(session, alert, coach, alert.proposal)
    return len(alerts)


async def write_digests(session: AsyncSession, now: datetime) -> int:
    """Write the digests that are due at `now`; the number of digests written."""
    written = 0
    for coach in await coaches_with_pending_digest(session):
        if coach.mode != DIGEST:
            await send_pending_now(session, coach)
            continue
        day, due = _due(now, coach)
        if now < due:
            continue
        key = digest_key(coach.id, day)
        if await _outbox_id(session, key) is not None:
            continue  # today's digest is written; what came since waits for tomorrow's
        alerts = await pending_digest_alerts(session, coach.id, due, DIGEST_LIMIT)
        if not alerts:
            continue
        card = await render_digest(session, coach, alerts)
        assert coach.chat_id is not None
        if not await enqueue(
            session,
            kind="telegram",
            chat_id=coach.chat_id,
            payload={"text": card.text, "buttons": card.buttons},
            dedupe_key=key,
        ):
            continue
        outbox_id = await _outbox_id(session, key)
        for alert in alerts:
            alert.status = QUEUED
            alert.outbox_id = outbox_id
            alert.digest_date = day
        written += 1
    return written


async def digest_round(sessionmaker: async_sessionmaker[AsyncSession], now: datetime) -> int:
    async with sessionmaker.begin() as session:
        written = await write_digests(session, now)
    async with sessionmaker.begin() as session:
        await mark_delivered_alerts(session)
    return written


async def run_digests(
    sessionmaker: async_sessionmaker[AsyncSession],
    stop: asyncio.Event,
    *,
    clock: Callable[[], datetime] = utcnow,
    interval: float = DIGEST_INTERVAL_SECONDS,
) -> None:
    """Write due digests every `interval` seconds until `stop` is set (and mark alerts whose
    message was sent as sent)."""
    log.info("coach digests started")
    while not stop.is_set():
        try:
            written = await digest_round(sessionmaker, clock())
            if written:
                log.info("%d coach digest(s) queued", written)
        except Exception:
            log.exception("coach digest round failed")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(interval):
                await stop.wait()
    log.info("coach digests stopped")


# ------------------------------------------------------------------ the invite link


def invite_link(bot_username: str | None, token: str) -> str:
    """The deep link that opens the bot with `/start coach-<token>`."""
    return f"https://t.me/{bot_username or '<bot username>'}?start={DEEP_LINK_PREFIX}{token}"
