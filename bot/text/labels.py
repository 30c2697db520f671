"""Words for the codes the bot stores: who carries a project, a proposal's status as the
citizen reads it, a concept of the matcher. Marked with `N_`, translated where shown."""

from __future__ import annotations

from bot.text.i18n import N_
from matching.normalize import concepts

ACTOR_KINDS: dict[str, str] = {
    "individual": N_("An individual citizen"),
    "citizen_group": N_("An informal group of citizens"),
    "association": N_("An association (ASBL/VZW)"),
    "school": N_("A school"),
    "business": N_("A local business"),
    "public": N_("A commune or CPAS"),
    "other": N_("Other"),
}

CARRIER_CHOICES: dict[str, str] = {
    **ACTOR_KINDS,
    "individual": N_("Me, as an individual"),
}
"""The carrier question, as the citizen answers it about themselves (the partners list and
the back-office keep ACTOR_KINDS)."""

PARTNER_CHOICES: dict[str, str] = {
    "individual": N_("Residents"),
    "citizen_group": N_("A citizens’ group"),
    "association": N_("An association"),
    "school": N_("A school"),
    "business": N_("A local business"),
    "public": N_("Commune or CPAS"),
    "other": N_("Other"),
}
"""The partners as toggle buttons, two to a row on a phone: short words for ACTOR_KINDS."""


STATUS_LABELS: dict[str, str] = {
    "submitted": N_("submitted"),
    "in_review": N_("in review"),
    "accepted": N_("accepted"),
    "rejected": N_("not retained"),
    "needs_info": N_("waiting for your answer"),
    "withdrawn": N_("withdrawn"),
}


def concept_label(concept: str, language: str) -> str:
    found = concepts().get(concept)
    return found.labels.get(language, concept) if found else concept
