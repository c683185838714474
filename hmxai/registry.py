"""A small name -> factory registry (one per kind: codecs, tasks), timm-style.

Names are kebab-case (``mbt2018-mean``, ``efficientnet-lite0``). Factories
are plain callables, imported lazily by the entries that need heavy
libraries, so listing names never imports torch models.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Generic, List, TypeVar

from hmxai.errors import InvalidArgumentError, UnknownNameError

T = TypeVar("T")
_KEBAB = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered model: its name, factory and descriptive facts."""

    name: str
    factory: Callable[..., T]
    kind: str
    description: str = ""
    facts: Dict[str, Any] = field(default_factory=dict)


class Registry(Generic[T]):
    """Name -> :class:`Entry`; ``create(name, **kwargs)`` calls the factory."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: Dict[str, Entry[T]] = {}

    def register(
        self, name: str, factory: Callable[..., T], description: str = "", **facts: Any
    ) -> Callable[..., T]:
        if not _KEBAB.match(name):
            raise InvalidArgumentError(f"{self.kind} name {name!r} is not kebab-case")
        if name in self._entries:
            raise InvalidArgumentError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = Entry(name, factory, self.kind, description, dict(facts))
        return factory

    def entry(self, name: str) -> Entry[T]:
        try:
            return self._entries[name]
        except KeyError:
            close = difflib.get_close_matches(name, self._entries, n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}{hint} (known: {', '.join(self.names())})"
            ) from None

    def create(self, name: str, **kwargs: Any) -> T:
        return self.entry(name).factory(**kwargs)

    def names(self, pattern: str = "*") -> List[str]:
        """Registered names matching a shell-style wildcard, sorted."""
        return sorted(n for n in self._entries if fnmatch.fnmatchcase(n, pattern))

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)


def positive_int(text: str) -> int:
    """A command-line positive integer (an image side, a number of time steps)."""
    import argparse

    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a positive integer, got {text!r}") from None
    if n <= 0:
        raise argparse.ArgumentTypeError(f"a positive integer, got {text!r}")
    return n


def quality_arg(text: str):
    """A command-line quality: an integer, or a float for variable-rate codecs (``2.5``)."""
    import argparse
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"quality must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"quality must be finite, got {text!r}")
    return int(value) if value.is_integer() and "." not in text else value


def quality_value(quality):
    """A quality as codecs store it: an int when integral (3, not 3.0 or numpy's 3), else a float."""
    import math

    try:
        q = float(quality)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"quality must be a number, got {quality!r}") from None
    return int(q) if math.isfinite(q) and q.is_integer() else q
