"""The layers of DESIGN.md section 2 hold, and the check that `make test` runs would catch a
forbidden import: import-linter's contracts (pyproject.toml) run on a copy of the tree into
which one bad import was written."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
PACKAGES = ("bot", "storage", "matching")


def _copy_tree(target: Path) -> None:
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package,
            target / package,
            ignore=lambda folder, names: [
                n for n in names if n == "__pycache__" or ("." in n and not n.endswith(".py"))
            ],
        )
    shutil.copy(ROOT / "pyproject.toml", target / "pyproject.toml")


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    # The copy comes first on the path, before the installed (editable) project.
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_tree_keeps_every_contract(tmp_path: Path) -> None:
    _copy_tree(tmp_path)
    result = _lint(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "bad_import", "broken"),
    [
        # storage never imports bot
        ("storage/clock.py", "import bot.text.i18n", "Layers"),
        # matching imports nothing of the project
        ("matching/text.py", "import storage.clock", "Layers"),
        # the back-office never talks to Telegram's adapter (nor the other way round)
        ("bot/backoffice/pages/charts.py", "import bot.telegram.application", "Layers"),
        # text is below the conversations
        ("bot/text/markup.py", "import bot.flows.base", "Layers"),
        # the emulator plays Telegram: it knows nothing of the bot
        ("bot/emulator/client.py", "import bot.text.i18n", "emulator stands alone"),
        # two modules of one layer importing each other
        ("bot/text/i18n.py", "import bot.text.wording", "No import cycles"),
        # a conversation step writing SQL itself instead of asking a service
        ("bot/flows/intake.py", "import sqlalchemy", "Conversations hold no SQL"),
        # a conversation step talking to Telegram
        ("bot/flows/account.py", "import telegram", "Conversations hold no SQL"),
        # matching reaching for the database
        ("matching/similar.py", "import sqlalchemy", "Matching is pure"),
    ],
)
def test_a_forbidden_import_breaks_the_check(
    tmp_path: Path, module: str, bad_import: str, broken: str
) -> None:
    _copy_tree(tmp_path)
    source = tmp_path / module
    source.write_text(source.read_text() + f"\n{bad_import}  # the forbidden import\n")
    result = _lint(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{broken}" in result.stdout and "BROKEN" in result.stdout, result.stdout
