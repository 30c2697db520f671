"""What the coach menu and the alert buttons (`bot.flows.coach`) may ask of storage, for one
update, inside the transaction that holds the chat's conversation row (the runner's): like
`bot.services.chat.ChatServices` for citizens, so that the flow itself holds no session."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.coach_alerts import (
    Card,
    TakeOutcome,
    load_alert,
    render_alert,
    send_pending_now,
    take_alert,
)
from storage.clock import utcnow
from storage.coaches import (
    LinkOutcome,
    coach_by_telegram,
    initiative_names,
    link_coach,
    record_not_relevant,
    set_follow,
)
from storage.models import Coach, CoachAlert, Proposal


@dataclass
class CoachServices:
    session: AsyncSession

    async def coach_of(self, telegram_user_id: int) -> Coach | None:
        """The coach linked to this Telegram account, locked for this update."""
        return await coach_by_telegram(self.session, telegram_user_id, lock=True)

    async def link(self, token: str, telegram_user_id: int, chat_id: int) -> LinkOutcome:
        """Use a one-time invitation: link this Telegram account to its coach."""
        return await link_coach(self.session, token, telegram_user_id, chat_id, utcnow())

    async def initiative_names(self) -> list[tuple[int, str]]:
        return await initiative_names(self.session)

    async def set_follow(self, coach: Coach, kind: str, value: str, follow: bool) -> None:
        await set_follow(self.session, coach, kind, value, follow)

    async def send_pending_now(self, coach: Coach) -> None:
        """A coach who leaves the daily digest gets what was waiting for it now."""
        await send_pending_now(self.session, coach)

    async def alert(self, alert_id: int) -> CoachAlert | None:
        return await load_alert(self.session, alert_id)

    async def alert_card(self, alert: CoachAlert, coach: Coach, proposal: Proposal) -> Card:
        """The alert as it reads now (after this update's changes)."""
        await self.session.flush()
        return await render_alert(self.session, alert, coach, proposal)

    async def take(self, alert: CoachAlert) -> TakeOutcome:
        return await take_alert(self.session, alert, utcnow())

    def not_relevant(self, alert: CoachAlert) -> None:
        record_not_relevant(alert, utcnow())
