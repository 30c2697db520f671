"""Which calls a proposal is eligible for, best first, and why."""

from __future__ import annotations

from datetime import date

import pytest

from matching.calls import ProposalFacts, _load, all_calls, eligible_calls, near_misses

TODAY = date(2026, 11, 26)


def ids(facts: ProposalFacts, **kwargs: object) -> list[str]:
    return [e.call.id for e in eligible_calls(facts, TODAY, **kwargs)]  # type: ignore[arg-type]


def test_defaults_hold_the_real_calls() -> None:
    calls = all_calls()
    assert calls["inspirons_coup_de_pouce"].budget_max_cents == 350_000
    assert calls["inspirons_projet"].budget_max_cents == 1_500_000
    assert calls["inspirons_grand_projet"].budget_max_cents == 3_000_000
    assert calls["ixelles_main_a_la_pate"].communes == {"21009"}
    assert all(set(call.names) == {"fr", "nl", "en"} for call in calls.values())


def test_small_citizen_project_in_ixelles() -> None:
    facts = ProposalFacts("21009", False, "citizen_group", ("food",), 250_000)
    found = eligible_calls(facts, TODAY)
    assert [e.call.id for e in found][:3] == [
        "ixelles_main_a_la_pate",
        "inspirons_coup_de_pouce",
        "ixelles_main_dans_la_main",
    ]
    assert "themes:food" in found[1].reasons and "commune" in found[0].reasons


def test_budget_picks_the_size_of_the_call() -> None:
    facts = ProposalFacts("21015", False, "association", ("compost",), 1_200_000)
    assert ids(facts) == ["inspirons_projet"]
    big = ProposalFacts("21015", False, "association", ("compost",), 2_800_000)
    assert ids(big) == ["inspirons_grand_projet"]
    too_big = ProposalFacts("21015", False, "association", ("compost",), 5_000_000)
    assert ids(too_big) == []


def test_communal_calls_need_their_commune() -> None:
    elsewhere = ProposalFacts("21015", False, "individual", ("culture",), 100_000)
    assert "ixelles_main_a_la_pate" not in ids(elsewhere)
    region = ProposalFacts(None, True, "individual", ("food",), 100_000)
    assert ids(region) == ["inspirons_coup_de_pouce"]


def test_unknown_budget_keeps_calls_open_and_says_so() -> None:
    facts = ProposalFacts("21015", False, "association", ("nature",), None)
    found = eligible_calls(facts, TODAY)
    assert len(found) == 3 and all("budget_unknown" in e.reasons for e in found)


def test_carrier_and_dates() -> None:
    business = ProposalFacts("21015", False, "business", ("food",), 100_000)
    assert ids(business) == []
    calls = _load(
        """
[closed]
name = { fr = "Fermé" }
budget_max_eur = 1000
closes = 2026-01-31
[later]
name = { fr = "Plus tard" }
budget_max_eur = 1000
opens = 2027-01-01
[open]
name = { fr = "Ouvert" }
budget_max_eur = 1000
"""
    )
    facts = ProposalFacts("21015", False, "individual", (), 50_000)
    assert ids(facts, calls=calls) == ["open"]
    assert calls["open"].name("nl") == "Ouvert"


def test_near_misses_say_which_single_answer_keeps_a_call_out() -> None:
    individual = ProposalFacts("21015", False, "individual", ("food",), 500_000)
    misses = [(m.call.id, m.why) for m in near_misses(individual, TODAY)]
    assert misses == [
        ("inspirons_coup_de_pouce", "budget_high"),
        ("inspirons_projet", "carrier"),
    ]  # the large project (budget and carrier) is two answers away; Ixelles is elsewhere
    region = ProposalFacts(None, True, "individual", ("food",), 200_000)
    assert ("ixelles_main_a_la_pate", "commune") in [
        (m.call.id, m.why) for m in near_misses(region, TODAY)
    ]
    fits = ProposalFacts("21015", False, "association", ("food",), 200_000)
    assert [m.call.id for m in near_misses(fits, TODAY)] == [
        "inspirons_projet",
        "inspirons_grand_projet",
    ]  # too small for them, and it fits others: said only when nothing fits


def test_funders_are_named_in_each_language() -> None:
    call = all_calls()["inspirons_projet"]
    assert (call.funder("fr"), call.funder("nl")) == (
        "Bruxelles Environnement",
        "Leefmilieu Brussel",
    )
    one = _load('[x]\nname = { fr = "X" }\nfunder = "Asbl X"\nbudget_max_eur = 1\n')["x"]
    assert one.funder("nl") == "Asbl X"


def test_every_call_has_criteria_named_in_three_languages() -> None:
    for call in all_calls().values():
        assert 3 <= len(call.criteria) <= 4, call.id
        assert len({c.id for c in call.criteria}) == len(call.criteria)
        for criterion in call.criteria:
            assert set(criterion.names) == {"fr", "nl", "en"}, (call.id, criterion.id)
            assert criterion.max_score == 5
    criteria = all_calls()["inspirons_projet"].criteria
    assert [c.id for c in criteria][:2] == ["local_anchoring", "participation"]
    assert criteria[1].name("fr") == "Participation citoyenne"
    assert criteria[1].name("nl") == "Burgerparticipatie"
    assert criteria[1].name("en") == "Citizen participation"


def test_criteria_are_parsed_with_their_defaults_and_checked() -> None:
    calls = _load(
        """
        [c]
        name = "Appel"
        budget_max_eur = 100
        criteria = [
            { id = "a", name = { fr = "Ancrage", nl = "Verankering" } },
            { id = "b", name = "Budget", max = 10 },
        ]
        [d]
        name = "Sans critères"
        budget_max_eur = 100
        """
    )
    first, second = calls["c"].criteria
    assert (first.id, first.max_score, first.name("nl"), first.name("en")) == (
        "a",
        5,
        "Verankering",
        "Ancrage",  # no English name: the French one
    )
    assert (second.max_score, second.name("en")) == (10, "Budget")
    assert calls["d"].criteria == ()
    for bad in (
        'criteria = [{ id = "a", name = { nl = "A" } }]',
        'criteria = [{ id = "a", name = "A", max = 0 }]',
        'criteria = [{ id = "a", name = "A" }, { id = "a", name = "B" }]',
    ):
        with pytest.raises(ValueError):
            _load(f'[c]\nname = "Appel"\nbudget_max_eur = 100\n{bad}\n')
