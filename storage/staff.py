"""Staff users of the back-office: accounts, roles and their language."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, UTCDateTime, utcnow

ROLES: tuple[str, ...] = ("admin", "reviewer")
STAFF_LANGUAGES: tuple[str, ...] = ("fr", "nl", "en")


class StaffExists(Exception):
    """A staff user with this e-mail address already exists."""


class StaffUser(Base):
    """Someone who signs in to the back-office. The e-mail is stored lower-cased."""

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(2), default="fr")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


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
