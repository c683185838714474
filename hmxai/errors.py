"""The exceptions hmxai raises: each names what was wrong and what to do about it.

All derive from :class:`HmxaiError`, so ``except HmxaiError`` catches every
failure that is the caller's input rather than a bug in hmxai; each also keeps the
built-in class it had before (``ValueError``, ``TypeError``, ...), so existing
``except ValueError`` clauses still work. The CLI prints these as one line and exits
with status 2; anything else is a bug and shows its traceback.
"""

from __future__ import annotations


class HmxaiError(Exception):
    """Base class of every error hmxai raises on purpose."""


class InvalidArgumentError(HmxaiError, ValueError):
    """An argument, setting or config value is out of its range or names nothing known."""


class InvalidTypeError(HmxaiError, TypeError):
    """An argument of the wrong kind (an unknown keyword, a model hmxai cannot adapt)."""


class MissingFileError(HmxaiError, FileNotFoundError):
    """A file or folder the caller named (data, a run, a front-end file) does not exist."""


class InvalidImageError(HmxaiError, ValueError):
    """An image could not be read or is not usable (empty, NaN, too large...)."""


class BitstreamError(HmxaiError, ValueError):
    """A compressed file is corrupted, truncated or not an hmxai file."""


class WeightsUnavailableError(HmxaiError, FileNotFoundError):
    """Pretrained weights are not available on this machine (no download is tried twice)."""


class CheckpointError(HmxaiError, ValueError):
    """A checkpoint file is missing, truncated, tampered with, or for another model."""


class NoLatentError(HmxaiError, TypeError):
    """A latent-only feature was asked of a codec that has no latent (a classical codec)."""


class UnknownNameError(HmxaiError, KeyError):
    """A registry lookup failed; the message lists close matches."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it readable
        return str(self.args[0]) if self.args else ""


class MissingDependencyError(HmxaiError, ImportError):
    """An optional package is missing; the message names the ``pip install`` line."""
