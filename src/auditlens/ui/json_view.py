"""Pretty-printed, syntax-highlighted JSON for the detail pane.

The entry's bytes are canonical JSON (keys sorted); people read an event top-down, so the
top-level fields are shown in the schema's order (id, timestamp, type, user, task, agent, event)
and everything inside keeps the canonical order. Display only: the bytes that were verified are
the ones the Copy button can also give.

With a free-text search applied, its hits are marked on top of the colours
(:meth:`JsonHighlighter.set_search`, the rule of :mod:`auditlens.mirror.search`).
"""

from __future__ import annotations

import json
import re

from PySide6.QtGui import QColor, QFont, QSyntaxHighlighter, QTextCharFormat, QTextDocument

from auditlens.core.events import EVENT_FIELDS
from auditlens.mirror.search import SearchQuery, highlight_spans
from auditlens.ui import theme

_KEY = re.compile(r'"(?:[^"\\]|\\.)*"(?=\s*:)')


def pretty_json(raw: bytes) -> str:
    """``raw`` as indented JSON, top-level fields in schema order (raw text if it is not JSON)."""
    try:
        obj = json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", errors="replace")
    if isinstance(obj, dict):
        ordered = {k: obj[k] for k in EVENT_FIELDS if k in obj}
        ordered.update((k, v) for k, v in obj.items() if k not in ordered)
        obj = ordered
    return json.dumps(obj, indent=2, ensure_ascii=False)


def _format(color: str, bold: bool = False) -> QTextCharFormat:
    fmt = QTextCharFormat()
    fmt.setForeground(QColor(color))
    if bold:
        fmt.setFontWeight(QFont.Weight.Bold)
    return fmt


class JsonHighlighter(QSyntaxHighlighter):
    """Keys, strings, numbers, literals and the failure outcome, each in its own colour.

    The colours are the current theme's (:mod:`auditlens.ui.theme`, each checked for contrast
    on the JSON pane's background); a theme change recolours the shown event.
    """

    def __init__(self, document: QTextDocument) -> None:
        super().__init__(document)
        self.search = SearchQuery(())
        self._use(theme.current())
        theme.theme_changed().connect(self._recolour)

    def _use(self, c: theme.Palette) -> None:
        # Later rules win: a number or "null" inside a string stays a string.
        self.rules = (
            (re.compile(r"-?\b\d+\b"), _format(c.json_number)),
            (re.compile(r"\b(?:true|false|null)\b"), _format(c.json_literal, bold=True)),
            (re.compile(r'"(?:[^"\\]|\\.)*"'), _format(c.json_string)),  # strings
            (re.compile(r'"(?:[^"\\]|\\.)*"(?=\s*:)'), _format(c.json_key, bold=True)),  # keys
            (re.compile(r'(?<="outcome": )"failure"'), _format(c.failure_text, bold=True)),
        )
        #: A search hit: dark text on yellow, readable over any of the syntax colours.
        self.hit_format = _format(c.hit_text)
        self.hit_format.setBackground(QColor(c.hit_bg))

    def _recolour(self, palette: theme.Palette) -> None:
        self._use(palette)
        self.rehighlight()

    def set_search(self, search: SearchQuery) -> None:
        """Mark the hits of ``search`` (an empty one marks nothing)."""
        if search != self.search:
            self.search = search
            self.rehighlight()

    def highlightBlock(self, text: str) -> None:  # noqa: N802 (Qt override)
        for pattern, fmt in self.rules:
            for match in pattern.finditer(text):
                self.setFormat(match.start(), match.end() - match.start(), fmt)
        if not self.search:
            return
        keys = [m.span() for m in _KEY.finditer(text)]  # keys are not searched: not marked
        for start, end in highlight_spans(self.search, text):
            if not any(a <= start < b for a, b in keys):
                self.setFormat(start, end - start, self.hit_format)
