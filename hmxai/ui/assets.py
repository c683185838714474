"""Where the front-end files are: inside the wheel (``hmxai/_widgets``) or, in a source checkout
or editable install, the repository's top-level ``widgets/`` folder."""

from __future__ import annotations

from pathlib import Path

from hmxai.errors import MissingFileError

_PACKAGE = Path(__file__).resolve().parents[1]


def asset(name: str) -> Path:
    """Path of a front-end file (``explorer.js``, ``explorer.css``); a clear error if missing."""
    for folder in (_PACKAGE / "_widgets", _PACKAGE.parent / "widgets"):
        path = folder / name
        if path.is_file():
            return path
    raise MissingFileError(f"hmxai's front-end file {name!r} is missing (looked in {_PACKAGE / '_widgets'} and "
                            f"{_PACKAGE.parent / 'widgets'}); reinstall hmxai")
