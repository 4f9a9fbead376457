"""Language of a text, Chinese or English, by the share of CJK characters among its letters."""

from __future__ import annotations

#: Unicode ranges counted as Chinese: CJK unified ideographs (and extension A, compatibility ideographs).
_CJK = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0xF900, 0xFAFF), (0x20000, 0x2A6DF))
LANGUAGES = ("en", "zh")
#: A text is Chinese when at least this share of its letters are CJK ideographs.
CJK_SHARE = 0.3


def is_cjk(ch: str) -> bool:
    o = ord(ch)
    return any(lo <= o <= hi for lo, hi in _CJK)


def cjk_share(text: str) -> float:
    """CJK ideographs / letters (``str.isalpha``; ideographs count as letters); 0 when there are none."""
    letters = cjk = 0
    for ch in text:
        if ch.isalpha():
            letters += 1
            cjk += is_cjk(ch)
    return cjk / letters if letters else 0.0


def detect_language(text: str) -> str:
    """``"zh"`` when at least 30% of the letters are CJK ideographs, else ``"en"`` (also for no letters)."""
    return "zh" if cjk_share(text) >= CJK_SHARE else "en"
