"""Helpers shared by the flow tests."""

from __future__ import annotations

from typing import Any


async def walk_to_review(chat: Any) -> None:
    await chat.send("/start")
    await chat.press(1)  # the welcome's only button
    await chat.send("Un potager partagé au parc Josaphat")
    await chat.send(
        "Cultiver des légumes ensemble avec les voisins et l'école du quartier, "
        "pour se rencontrer et manger mieux."
    )
    await chat.send("1030")
    await chat.press("ASBL")
    await chat.press("école")
    await chat.press("Terminé")
    await chat.choose("alimentation")
    await chat.press("Terminé")
    await chat.send("2.500 €")
    await chat.press("équipe")
    await chat.send("Marie Dupont")
    await chat.send("marie@example.be")
    await chat.press("Oui")
    await chat.press("Oui")
