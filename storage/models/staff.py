"""Back-office accounts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.clock import utcnow
from storage.models.base import Base, UTCDateTime

ADDRESS_LENGTH = 45
"""The longest IPv6 address written as text."""
USER_AGENT_LENGTH = 255


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
    telegram_user_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    """The Telegram account linked by the staff member (storage.staff_link): their "take it"
    in the staff group assigns to them, and they are told privately of what others give
    them. A private chat's id is its user's id, so this is also where to write to them."""
    telegram_linked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StaffLinkToken(Base):
    """A one-time link that ties a Telegram account to a staff account: the bot's deep link
    `/start staff-<token>`. Only the token's SHA-256 is stored, as for coach invitations."""

    __tablename__ = "staff_link_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    staff_id: Mapped[int] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StaffSession(Base):
    """A signed-in back-office session, ended by signing out, by its owner or an
    administrator, by removing the account, or after idling (see storage.staff_sessions).

    The browser's cookie holds a random token; only its SHA-256 is stored, so that reading
    the database does not let anyone sign in.
    """

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    staff_id: Mapped[int] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    address: Mapped[str] = mapped_column(String(ADDRESS_LENGTH))
    user_agent: Mapped[str] = mapped_column(String(USER_AGENT_LENGTH))
