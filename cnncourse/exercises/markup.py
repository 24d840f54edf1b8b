"""Find and cut the solutions in MyST markdown, fence by fence.

A line scanner, not a regex over the file: each fenced block (three or more backticks
or colons) is matched with its closing fence, so code cells inside a solution, nested
directives, and example markup shown as text inside a longer fence are all handled.
"""

from __future__ import annotations

import re

_FENCE = re.compile(r"^ {0,3}(?P<fence>`{3,}|:{3,})\s*(?P<info>.*?)\s*$")
_DIRECTIVE = re.compile(r"^\{(?P<name>[\w:.-]+)\}")


def strip_solutions(text: str) -> str:
    """Remove every solution from MyST markdown ``text``.

    Removes each top-level ``{solution-start}`` ... ``{solution-end}`` region (both
    fences included) and each ``{solution}`` directive block. ``ValueError`` for a
    ``solution-start`` without its ``solution-end`` (or the reverse), so a malformed
    chapter never leaks or loses text silently.
    """
    return _split_solutions(text)[0]


def solution_blocks(text: str) -> list[str]:
    """The text of each solution in MyST markdown ``text`` (what the student edition cuts)."""
    return _split_solutions(text)[1]


def _split_solutions(text: str) -> tuple[str, list[str]]:
    """``(text without solutions, [each solution's text])``."""
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    removed: list[str] = []
    i = 0
    while i < len(lines):
        name, fence = _open_directive(lines[i])
        if fence is None:
            out.append(lines[i])
            i += 1
        elif name in ("solution-start", "solution"):
            end = (
                _skip_gated(lines, i) if name == "solution-start" else _block_end(lines, i, fence)
            )
            removed.append("".join(lines[i:end]))
            i = end
            if not out or out[-1].strip() == "":  # no run of blank lines where it was
                while i < len(lines) and lines[i].strip() == "":
                    i += 1
        elif name == "solution-end":
            raise ValueError(f"line {i + 1}: solution-end without a solution-start before it.")
        else:  # any other fenced block is copied whole, so its text is never scanned
            end = _block_end(lines, i, fence)
            out.extend(lines[i:end])
            i = end
    return "".join(out), removed


def _open_directive(line: str) -> tuple[str | None, str | None]:
    """``(directive name or None, fence)`` if ``line`` opens a fenced block, else ``(None, None)``."""
    match = _FENCE.match(line)
    if not match or (match["fence"][0] == "`" and "`" in match["info"]):
        return None, None
    directive = _DIRECTIVE.match(match["info"])
    return (directive["name"] if directive else None), match["fence"]


def _block_end(lines: list[str], start: int, fence: str) -> int:
    """Index just past the fence that closes the block opened at ``start``."""
    for j in range(start + 1, len(lines)):
        match = _FENCE.match(lines[j])
        if (
            match
            and not match["info"]
            and match["fence"][0] == fence[0]
            and len(match["fence"]) >= len(fence)
        ):
            return j + 1
    return len(lines)  # CommonMark: an unclosed fence runs to the end of the document


def _skip_gated(lines: list[str], start: int) -> int:
    """Index just past the ``solution-end`` block that closes the region opened at ``start``."""
    i = _block_end(lines, start, _open_directive(lines[start])[1])
    while i < len(lines):
        name, fence = _open_directive(lines[i])
        if fence is None:
            i += 1
        elif name == "solution-end":
            return _block_end(lines, i, fence)
        elif name == "solution-start":
            break
        else:
            i = _block_end(lines, i, fence)
    raise ValueError(f"line {start + 1}: solution-start has no matching solution-end.")
