"""SQLAlchemy models, one module per table group; importing this package registers every table.

`Base.metadata` (migrations, `alembic check`) sees every table because this package imports
all of its modules. Queries live beside it, in `storage/`.
"""

from storage.models.answer_templates import AnswerTemplate
from storage.models.api_tokens import ApiToken
from storage.models.assignment import AssignmentRule
from storage.models.base import Base, JsonType, UTCDateTime
from storage.models.bulk import BulkAction, BulkActionItem
from storage.models.coaches import Coach, CoachAlert, CoachFollow, CoachInvite, CoachTake
from storage.models.evaluation import ProposalEvaluation
from storage.models.inbox import (
    UNFINISHED,
    UPDATE_DONE,
    UPDATE_PARKED,
    UPDATE_PENDING,
    UPDATE_PROCESSING,
    UPDATE_STATUSES,
    InboxUpdate,
)
from storage.models.initiatives import Initiative
from storage.models.outbox import DEAD, PENDING, SENDING, SENT, STATUSES, OutboxMessage
from storage.models.proposals import (
    Citizen,
    Conversation,
    Proposal,
    ProposalEvent,
    ProposalMatch,
    ReferenceCounter,
)
from storage.models.saved_filters import SavedFilter
from storage.models.staff import StaffLinkToken, StaffSession, StaffUser

__all__ = [
    "DEAD",
    "PENDING",
    "SENDING",
    "SENT",
    "STATUSES",
    "UNFINISHED",
    "UPDATE_DONE",
    "UPDATE_PARKED",
    "UPDATE_PENDING",
    "UPDATE_PROCESSING",
    "UPDATE_STATUSES",
    "AnswerTemplate",
    "ApiToken",
    "AssignmentRule",
    "Base",
    "BulkAction",
    "BulkActionItem",
    "Citizen",
    "Coach",
    "CoachAlert",
    "CoachFollow",
    "CoachInvite",
    "CoachTake",
    "Conversation",
    "InboxUpdate",
    "Initiative",
    "JsonType",
    "OutboxMessage",
    "Proposal",
    "ProposalEvaluation",
    "ProposalEvent",
    "ProposalMatch",
    "ReferenceCounter",
    "SavedFilter",
    "StaffLinkToken",
    "StaffSession",
    "StaffUser",
    "UTCDateTime",
]
