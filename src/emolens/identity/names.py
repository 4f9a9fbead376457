"""Person names: the one check that the CLI, the API and the dashboard (through the API) apply before enrolling.

A name is normalised to Unicode NFC with its surrounding white space removed, and refused (one line,
:class:`~emolens.errors.ConfigError`) when it is

- empty, or longer than :data:`MAX_NAME_LENGTH` characters;
- ``unknown`` in any case: the label of a face that matches no one, so such a person would be indistinguishable
  from a stranger;
- holding ``/`` or ``\\`` (a name is a path segment in ``DELETE /v1/people/{name}`` and a folder name in
  ``emolens enroll --from-folder``);
- holding control characters (``\\n``, ``\\t``, NUL, ...), line or paragraph separators, or the bidirectional
  controls that make text display in another order than it is stored (U+202A–U+202E, U+2066–U+2069).

Other characters, including spaces inside the name, accents, any script and emoji (with their zero-width
joiners), are kept as typed.
"""

from __future__ import annotations

import unicodedata

from emolens.errors import ConfigError

__all__ = ["MAX_NAME_LENGTH", "RESERVED_NAMES", "check_name"]

#: Longest accepted name, in characters (after normalisation).
MAX_NAME_LENGTH = 100
#: Names that mean something else in results.
RESERVED_NAMES = frozenset({"unknown"})

_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
_REFUSED_CATEGORIES = frozenset({"Cc", "Cs", "Co", "Cn", "Zl", "Zp"})


def check_name(name: str) -> str:
    """The normalised form of a person's name, or :class:`~emolens.errors.ConfigError` saying why it is refused.

    Parameters
    ----------
    name : str
        The name as typed (a CLI argument, a folder name, an API form field).

    Returns
    -------
    str
        NFC-normalised, without surrounding white space.

    Raises
    ------
    ConfigError
        See the module docstring for the rules.
    """
    if not isinstance(name, str):
        raise ConfigError(f"a person's name must be text, not {type(name).__name__}")
    norm = unicodedata.normalize("NFC", name).strip()
    if not norm:
        raise ConfigError("a person needs a non-empty name")
    if len(norm) > MAX_NAME_LENGTH:
        raise ConfigError(f"a person's name has at most {MAX_NAME_LENGTH} characters, this one has {len(norm):,}")
    if norm.casefold() in RESERVED_NAMES:
        raise ConfigError(f"{norm!r} is reserved: it is what a face that matches no one is called")
    for ch in norm:
        if ch in "/\\":
            raise ConfigError(f"a person's name cannot hold {ch!r}")
        if ch in _BIDI_CONTROLS or unicodedata.category(ch) in _REFUSED_CATEGORIES:
            raise ConfigError(f"a person's name cannot hold control characters (U+{ord(ch):04X})")
    return norm
