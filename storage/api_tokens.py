"""Bearer tokens for the read-only JSON API. Only a SHA-256 of each token is stored.

A token is 32 random bytes (URL-safe base64), shown once when it is created. Looking it up
by its hash needs no constant-time comparison: learning how much of a stored hash a guess
matched tells nothing about a token with 256 bits of entropy. A revoked token keeps its
row (and so its name) for the record.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.clock import utcnow
from storage.models.api_tokens import NAME_LENGTH, ApiToken

TOUCH_INTERVAL = timedelta(minutes=1)
"""`last_used_at` is written at most this often, so that reading the API is not a write."""


class ApiTokenExists(Exception):
    """A token with this name exists already (maybe revoked)."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


async def api_token_by_name(session: AsyncSession, name: str) -> ApiToken | None:
    result = await session.execute(select(ApiToken).where(ApiToken.name == name.strip()))
    return result.scalar_one_or_none()


async def create_api_token(session: AsyncSession, name: str) -> str:
    """Store a new token named `name` and return it: the only time it is ever seen.

    `ApiTokenExists` if the name is taken (even by a revoked token), ValueError if empty or
    longer than NAME_LENGTH characters.
    """
    name = name.strip()
    if not name or len(name) > NAME_LENGTH:
        raise ValueError(f"a token name has 1 to {NAME_LENGTH} characters")
    if await api_token_by_name(session, name) is not None:
        raise ApiTokenExists(name)
    token = secrets.token_urlsafe(32)
    session.add(ApiToken(name=name, token_hash=hash_token(token), created_at=utcnow()))
    await session.flush()
    return token


async def authenticate_api_token(
    session: AsyncSession, token: str, *, now: datetime | None = None
) -> ApiToken | None:
    """The live token whose value is `token`, its use recorded; None if unknown or revoked."""
    result = await session.execute(
        select(ApiToken).where(
            ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None)
        )
    )
    found = result.scalar_one_or_none()
    if found is None:
        return None
    now = now or utcnow()
    if found.last_used_at is None or now - found.last_used_at >= TOUCH_INTERVAL:
        found.last_used_at = now
        await session.flush()
    return found


async def revoke_api_token(
    session: AsyncSession, name: str, *, now: datetime | None = None
) -> ApiToken | None:
    """Revoke the token named `name` (a second revocation keeps the first date); None if
    there is no such token."""
    found = await api_token_by_name(session, name)
    if found is not None and found.revoked_at is None:
        found.revoked_at = now or utcnow()
        await session.flush()
    return found


async def list_api_tokens(session: AsyncSession) -> list[ApiToken]:
    """Every token, revoked ones included, by name."""
    result = await session.execute(select(ApiToken).order_by(ApiToken.name))
    return list(result.scalars())
