"""The labelled proposals of ``../shared/eval/``: read at run time, never copied into the
project (see that folder's README)."""

from __future__ import annotations

from pathlib import Path


def eval_file(eval_dir: str | Path, name: str) -> Path:
    """The path of the evaluation file *name*; :class:`FileNotFoundError` naming the folder
    or the file when missing."""
    eval_dir = Path(eval_dir)
    if not eval_dir.is_dir():
        raise FileNotFoundError(
            f"evaluation folder not found: {eval_dir} (the labelled proposals live in "
            "../shared/eval/, outside the project)"
        )
    path = eval_dir / name
    if not path.is_file():
        raise FileNotFoundError(f"evaluation file not found: {path}")
    return path
