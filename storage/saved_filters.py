"""Saved filters of the proposal list: a staff member names the list they keep coming back
to ("Inspirons le quartier, overdue", "Schaerbeek, nobody's") and finds it in one click.

A filter is its owner's, or shared with the whole team; only its owner (or an admin, for
a shared one) deletes it. Saving a name the owner already used replaces that filter's query.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.clock import utcnow
from storage.models import SavedFilter, StaffUser

NAME_LIMIT = 80
QUERY_LIMIT = 2000


async def save_filter(
    session: AsyncSession, owner: StaffUser, name: str, query: str, *, shared: bool
) -> SavedFilter:
    """Save `query` under `name` for `owner`, replacing the owner's filter of that name."""
    name = " ".join(name.split())
    if not name or len(name) > NAME_LIMIT:
        raise ValueError(f"a filter's name has 1 to {NAME_LIMIT} characters")
    if len(query) > QUERY_LIMIT:
        raise ValueError(f"a filter's query has at most {QUERY_LIMIT} characters")
    saved = (
        await session.execute(
            select(SavedFilter)
            .where(SavedFilter.owner_id == owner.id, SavedFilter.name == name)
            .with_for_update()
        )
    ).scalar_one_or_none()
    if saved is None:
        saved = SavedFilter(owner_id=owner.id, name=name, created_at=utcnow())
        session.add(saved)
    saved.query = query
    saved.shared = shared
    await session.flush()
    return saved


async def filters_for(session: AsyncSession, staff_id: int) -> Sequence[SavedFilter]:
    """The staff member's own filters and those the others shared, by name."""
    return (
        (
            await session.execute(
                select(SavedFilter)
                .where(or_(SavedFilter.owner_id == staff_id, SavedFilter.shared.is_(True)))
                .order_by(SavedFilter.name, SavedFilter.id)
            )
        )
        .scalars()
        .all()
    )


async def delete_filter(session: AsyncSession, filter_id: int, by: StaffUser) -> bool:
    """Delete a filter its owner or, when shared, an admin deletes; False if there was no
    such filter `by` may delete."""
    allowed = SavedFilter.owner_id == by.id
    if by.role == "admin":
        allowed = or_(allowed, SavedFilter.shared.is_(True))
    result = await session.execute(
        delete(SavedFilter)
        .where(SavedFilter.id == filter_id, allowed)
        .returning(SavedFilter.id)
        .execution_options(synchronize_session=False)
    )
    return result.scalar_one_or_none() is not None
