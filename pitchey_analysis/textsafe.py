"""Text that came from outside (a target, a dataset, a file name), made safe to print on a terminal.

One function, :func:`printable`, for every piece of such text the command line prints: a target's frames,
close reasons and error bodies, a dataset's values and paths. A terminal acts on control characters (ESC
starts a sequence that clears the screen, sets the window title or rewrites what was printed; a carriage
return overwrites the line), and a bidirectional override reorders what the reader sees. Each of them is
printed as an escape (``\\x1b``, ``\\r``, ``\\u202e``), so the text stays readable and does nothing.
"""

from __future__ import annotations

import re

# C0 controls (tab included: it moves the cursor), DEL, C1 controls (U+0080-U+009F: 8-bit CSI, OSC, ...),
# and the format characters that reorder or hide text (bidi embeddings, overrides, isolates, zero-width ones)
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb\ud800-\udfff]"
)


def _escape(m: re.Match[str]) -> str:
    c = m.group()
    n = ord(c)
    return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(c) or (f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}")


def printable(text: object, limit: int | None = None) -> str:
    """``text`` (any object, as ``str``) with every control and reordering character escaped, cut to ``limit``
    characters (an ellipsis marks the cut); a lone surrogate (text decoded with ``surrogateescape``) is escaped too."""
    s = str(text)
    if limit is not None and len(s) > limit:
        s = s[:limit] + "…"
    return _UNSAFE.sub(_escape, s)


__all__ = ["printable"]
