"""Values quoted in a sentence (a problem, an error line): the one way to cut them short."""

from __future__ import annotations


def clip(value: object, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters when longer. A string keeps its closing
    quote, so the reader sees where the quoted value was cut and that nothing follows it."""
    text = repr(value)
    if len(text) <= limit:
        return text
    if isinstance(value, str):
        return text[: limit - 2] + "…" + text[-1]
    return text[: limit - 1] + "…"
