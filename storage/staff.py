"""Staff users of the back-office: accounts, roles, their language and their Telegram link.

A staff member links their Telegram account from the back-office with a one-time link (the
bot's deep link `/start staff-<token>`): a random token whose SHA-256 alone is stored,
valid for `LINK_HOURS` hours and usable once; asking for a new link makes the earlier
unused ones unusable. One Telegram account links at most one staff account (unique).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Result,
    and_,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.api_tokens import hash_token
from storage.clock import utcnow
from storage.models import StaffLinkToken, StaffUser

ROLES: tuple[str, ...] = ("admin", "reviewer")
STAFF_LANGUAGES: tuple[str, ...] = ("fr", "nl", "en")
LINK_HOURS = 24
LINK_TOKEN_BYTES = 18
"""24 URL-safe characters: with "staff-" well under Telegram's 64 for a start parameter."""


class StaffExists(Exception):
    """A staff user with this e-mail address already exists."""


def normalise_email(email: str) -> str:
    return email.strip().lower()


async def add_staff(
    session: AsyncSession,
    email: str,
    password_hash: str,
    role: str,
    language: str = "fr",
) -> StaffUser:
    """Create a staff user; `StaffExists` if the e-mail is taken, ValueError if invalid."""
    address = normalise_email(email)
    if not address or "@" not in address:
        raise ValueError(f"not an e-mail address: {email!r}")
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    if language not in STAFF_LANGUAGES:
        raise ValueError(f"unknown language {language!r}; expected fr, nl or en")
    if await staff_by_email(session, address) is not None:
        raise StaffExists(address)
    staff = StaffUser(
        email=address,
        password_hash=password_hash,
        role=role,
        language=language,
        created_at=utcnow(),
    )
    session.add(staff)
    await session.flush()
    return staff


async def staff_by_email(session: AsyncSession, email: str) -> StaffUser | None:
    address = normalise_email(email)
    result = await session.execute(select(StaffUser).where(StaffUser.email == address))
    return result.scalar_one_or_none()


async def staff_by_id(session: AsyncSession, staff_id: int) -> StaffUser | None:
    return await session.get(StaffUser, staff_id)


async def record_login(session: AsyncSession, staff: StaffUser) -> None:
    staff.last_login_at = utcnow()
    await session.flush()


async def all_staff(session: AsyncSession) -> list[StaffUser]:
    """Every staff user, by e-mail."""
    result = await session.execute(select(StaffUser).order_by(StaffUser.email))
    return list(result.scalars())


async def staff_count(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(StaffUser))).scalar_one())


class StaffRuleError(Exception):
    """A change to an account that the rules refuse; `code` says which rule.

    - `not_found`: there is no such account (any more);
    - `not_admin`: the person asking is not (or no longer) an administrator;
    - `self`: administrators cannot demote or remove themselves;
    - `last_admin`: there must always remain at least one administrator.
    """

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


async def _check_change(session: AsyncSession, staff_id: int, actor_id: int) -> StaffUser:
    """The account to change, after the rules every change obeys.

    The administrators' rows are locked first (`SELECT … FOR UPDATE` on PostgreSQL), so
    that two administrators demoting each other at the same moment cannot both succeed.
    """
    admins = {
        staff.id: staff
        for staff in (
            await session.execute(
                select(StaffUser)
                .where(StaffUser.role == "admin")
                .order_by(StaffUser.id)
                .with_for_update()
            )
        ).scalars()
    }
    if actor_id not in admins:
        raise StaffRuleError("not_admin")
    if staff_id == actor_id:
        raise StaffRuleError("self")
    target = admins.get(staff_id) or await session.get(StaffUser, staff_id, with_for_update=True)
    if target is None:
        raise StaffRuleError("not_found")
    return target


def _another_admin_remains(staff_id: int, actor_id: int) -> ColumnElement[bool]:
    """The rules again, inside the UPDATE or DELETE itself: SQLite takes its write lock
    only when a statement writes, so a check made by an earlier SELECT could be stale."""
    other = aliased(StaffUser)
    others = (
        select(func.count())
        .select_from(other)
        .where(other.role == "admin", other.id != staff_id)
        .scalar_subquery()
    )
    actor = aliased(StaffUser)
    actor_is_admin = select(actor.id).where(actor.id == actor_id, actor.role == "admin").exists()
    return and_(others >= 1, actor_is_admin)


async def set_staff_role(
    session: AsyncSession, staff_id: int, role: str, *, actor_id: int
) -> StaffUser:
    """Give an account another role, on behalf of the administrator `actor_id`.

    Raises `StaffRuleError` (see its codes) and ValueError for an unknown role.
    """
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    target = await _check_change(session, staff_id, actor_id)
    if target.role == role:
        return target
    result = await session.execute(
        update(StaffUser)
        .where(StaffUser.id == staff_id, _another_admin_remains(staff_id, actor_id))
        .values(role=role)
        .execution_options(synchronize_session=False)
    )
    if _rowcount(result) != 1:
        raise StaffRuleError("last_admin")
    await session.refresh(target)
    return target


async def remove_staff(session: AsyncSession, staff_id: int, *, actor_id: int) -> str:
    """Delete an account on behalf of the administrator `actor_id`; its e-mail address.

    The audit trail keeps the address of whoever acted (it is text, not a reference).
    Raises `StaffRuleError` (see its codes).
    """
    target = await _check_change(session, staff_id, actor_id)
    email = target.email
    result = await session.execute(
        delete(StaffUser)
        .where(StaffUser.id == staff_id, _another_admin_remains(staff_id, actor_id))
        .execution_options(synchronize_session=False)
    )
    if _rowcount(result) != 1:
        raise StaffRuleError("last_admin")
    session.expunge(target)
    return email


def _rowcount(result: Result[Any]) -> int:
    return cast(CursorResult[Any], result).rowcount


async def admin_count(session: AsyncSession) -> int:
    query = select(func.count()).select_from(StaffUser).where(StaffUser.role == "admin")
    return int((await session.execute(query)).scalar_one())


# ------------------------------------------------------------------ the Telegram link


async def create_link_token(
    session: AsyncSession, staff: StaffUser, now: datetime | None = None
) -> str:
    """A new one-time token linking a Telegram account to `staff`; only its hash is
    stored. The staff member's earlier unused tokens are deleted (only the newest link
    shown works). Returns the token."""
    moment = now or utcnow()
    await session.execute(
        delete(StaffLinkToken)
        .where(StaffLinkToken.staff_id == staff.id)
        .where(StaffLinkToken.used_at.is_(None))
    )
    token = secrets.token_urlsafe(LINK_TOKEN_BYTES)
    session.add(
        StaffLinkToken(
            staff_id=staff.id,
            token_hash=hash_token(token),
            created_at=moment,
            expires_at=moment + timedelta(hours=LINK_HOURS),
        )
    )
    await session.flush()
    return token


async def pending_link_until(
    session: AsyncSession, staff_id: int, now: datetime | None = None
) -> datetime | None:
    """Until when the staff member's newest unused link works; None when there is none."""
    query = (
        select(func.max(StaffLinkToken.expires_at))
        .where(StaffLinkToken.staff_id == staff_id)
        .where(StaffLinkToken.used_at.is_(None))
        .where(StaffLinkToken.expires_at > (now or utcnow()))
    )
    return cast(datetime | None, (await session.execute(query)).scalar_one())


@dataclass(frozen=True)
class StaffLinkOutcome:
    status: str
    """linked, unknown, expired, used, or other_staff (this Telegram account is already
    linked to another staff account)."""
    staff: StaffUser | None = None


async def link_staff(
    session: AsyncSession, token: str, telegram_user_id: int, now: datetime | None = None
) -> StaffLinkOutcome:
    """Use a link token: link the Telegram account to its staff account, replacing the
    account's earlier Telegram link. Opening a used link again from the Telegram account it
    linked says "linked" again. Does not commit."""
    moment = now or utcnow()
    link = (
        await session.execute(
            select(StaffLinkToken)
            .where(StaffLinkToken.token_hash == hash_token(token))
            .with_for_update()
        )
    ).scalar_one_or_none()
    if link is None:
        return StaffLinkOutcome("unknown")
    staff = await session.get(StaffUser, link.staff_id, with_for_update=True)
    if staff is None:  # pragma: no cover - the token goes with its account (cascade)
        return StaffLinkOutcome("unknown")
    if link.used_at is not None:
        same = staff.telegram_user_id == telegram_user_id
        return StaffLinkOutcome("linked" if same else "used", staff if same else None)
    if moment >= link.expires_at:
        return StaffLinkOutcome("expired")
    current = await staff_by_telegram(session, telegram_user_id)
    if current is not None and current.id != staff.id:
        return StaffLinkOutcome("other_staff", current)
    link.used_at = moment
    staff.telegram_user_id = telegram_user_id
    staff.telegram_linked_at = moment
    await session.flush()
    return StaffLinkOutcome("linked", staff)


async def unlink_staff(session: AsyncSession, staff_id: int) -> bool:
    """Forget the staff member's Telegram account; False when none was linked."""
    result = await session.execute(
        update(StaffUser)
        .where(StaffUser.id == staff_id, StaffUser.telegram_user_id.is_not(None))
        .values(telegram_user_id=None, telegram_linked_at=None)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


async def staff_by_telegram(session: AsyncSession, telegram_user_id: int) -> StaffUser | None:
    """The staff account linked to this Telegram account, if any."""
    result = await session.execute(
        select(StaffUser).where(StaffUser.telegram_user_id == telegram_user_id)
    )
    return result.scalar_one_or_none()
