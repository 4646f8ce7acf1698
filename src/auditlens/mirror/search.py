"""Free-text search over every event of the mirror: an SQLite FTS5 index and its match rule.

What is indexed. Every string and number value of the event's canonical JSON, at any depth
(ids, type, user/task/agent ids, URLs, paths, commands, error messages, emails, IPs, reasons),
one value per line, in the order of the canonical bytes. Keys are not indexed (``outcome`` or
``request`` would match every event and only bloat the index), nor is the top-level
``timestamp`` (the time range filter answers that, and its digits would match most numbers).

Tokenization. FTS5's ``unicode61`` tokenizer with its default separators: a token is a run of
letters and digits, so ``alice@example.com`` is ``alice``, ``example``, ``com``, ``10.0.0.7``
is ``10``, ``0``, ``0``, ``7`` and ``/srv/app/main.py`` is ``srv``, ``app``, ``main``, ``py``.
A search term is turned into the *phrase* of its tokens with the last one a prefix
(``"alice example com"*``) unless it is a number, so one index answers both:

- a whole value: ``alice@example.com``, ``10.0.0.7``, ``tsk_01HX...``, ``/srv/app/main.py``;
- a part of it, from the start of a word part: ``alice``, ``example.com``, ``10.0.0``,
  ``main.py``, ``01HX`` (the ULID inside an id), ``timeout``.

A number is matched whole (``10.42.8`` finds ``10.42.8.25``, not ``10.42.80.1``; ``404``
is not ``4040``): numeric tokens are many and share their starts (durations, counts, octets),
and a prefix expands to every one of them: ``10.42.8*`` took 300 ms at 1M events, the whole
number 0.2 ms. Punctuation between the parts of a term is not compared (``example.com`` also
finds the words ``example com``); a term does not match inside a word part (``ample`` does
not find ``example``), as in the log search tools investigators know (Splunk's breakers). A
trigram index would also match inside words, at seven times the size (+83% of the mirror
against +12%, measured at 100k demo events by ``bench/search.py``): not worth it for ids and
addresses, which are searched whole or by their parts. Diacritics are kept
(``remove_diacritics 0``) so the index and the re-check below read text identically. Several
terms must all match (AND), unless a bare ``OR`` joins two (``timeout OR refused``: either); a
quoted ``"two words"`` is one term.

The index is contentless (``content=''``): it stores tokens and positions keyed by the entry's
``idx`` as rowid, never the text a second time (the mirror keeps the exact bytes in
``entries.raw``). Entries are never updated or deleted, so a contentless table needs no
delete support. ``columnsize=0`` drops the per-row token counts (only ranking reads them;
hits come in log order).

Trust. The index is derived data that the start-up re-check does not re-derive. A damaged index
may therefore *miss* an event, but it must never make a row appear that does not match: every
hit of a page is re-checked against the row's own bytes in Python with the same rule
(:func:`matches`) before it is shown, which costs ~10 µs per row (a 200-row page: ~2 ms).
Search only ever narrows what is shown; it reads the same verified entries.

Maintenance. The sync takes each entry's text from the event it parses anyway
(:func:`text_of_event`) and hands it to the mirror writer with the entry's row; the writer's
thread inserts both in the same transaction (:func:`insert_texts`), so the tokenizing, in C,
overlaps the sync's hashing and parsing, and an entry is searchable exactly when it is stored.
Rows added without their text are indexed from their stored bytes before the batch commits
(:func:`index_from`); the schema-3 upgrade of an older mirror indexes every stored entry once
(:func:`rebuild`, :mod:`auditlens.mirror.migrate`).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import orjson

TABLE = "entry_text"

#: The FTS5 table (created with the other tables; see the module docstring for the options).
DDL = (
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {TABLE} USING fts5("
    "body, content='', columnsize=0, tokenize='unicode61 remove_diacritics 0')"
)

#: FTS5 keeps up to this much of a transaction's new postings in memory before writing a
#: segment (default 1 MiB). Fewer, larger segments mean less merging during a bulk load
#: (measured ~25% less index time at 100k entries); the memory is freed at COMMIT.
HASH_SIZE = 32 * 1024 * 1024
CONFIGURE = f"INSERT INTO {TABLE}({TABLE}, rank) VALUES ('hashsize', {HASH_SIZE})"

#: The statements creating the index.
CREATE = (DDL, CONFIGURE)

#: The hits of an FTS5 MATCH expression among the entries ``lo <= idx < hi`` (parameters: the
#: expression, ``lo``, ``hi``): read off the index's own lists, no entry row read.
HITS = f"SELECT rowid FROM {TABLE} WHERE {TABLE} MATCH ? AND rowid >= ? AND rowid < ?"

#: SQL function registered on a writing connection: the indexed text of one entry's raw bytes.
TEXT_FUNCTION = "auditlens_search_text"

#: One token, as unicode61 reads one: a run of letters and digits (``_`` separates).
_TOKEN = re.compile(r"[^\W_]+")
#: Terms of a typed query: a quoted phrase, or a run of non-space characters; either may
#: start with ``-`` (leave out the events holding it).
_TERM = re.compile(r'(-?)"([^"]*)"?|(-?)(\S+)')


def _walk(node: dict[str, object] | list[object], append: Callable[[str], None]) -> None:
    for value in node.values() if type(node) is dict else node:
        kind = type(value)
        if kind is str:
            append(value)  # type: ignore[arg-type]
        elif kind is dict or kind is list:
            _walk(value, append)  # type: ignore[arg-type]
        elif kind is int or kind is float:
            append(str(value))


def text_of_event(event: object) -> str:
    """The indexed text of a parsed event: its values, one per line (see the module doc).

    Exact type checks, not ``isinstance``: this runs once per entry of a bulk load (~3 µs).
    """
    if type(event) is not dict:
        return ""
    out: list[str] = []
    append = out.append
    for key, value in event.items():
        if key == "timestamp":
            continue
        kind = type(value)
        if kind is str:
            append(value)
        elif kind is dict or kind is list:
            _walk(value, append)
        elif kind is int or kind is float:
            append(str(value))
    return "\n".join(out)


def text_of(raw: bytes) -> str:
    """The indexed text of an entry's stored bytes ("" when they are not JSON)."""
    try:
        return text_of_event(orjson.loads(raw))
    except orjson.JSONDecodeError:
        return ""


def tokens(text: str) -> list[str]:
    """The tokens of ``text`` as the index sees them (lower case)."""
    return _TOKEN.findall(text.lower())


Term = tuple[str, ...]
"""One searched term: the phrase of its tokens, the last one a prefix unless a number."""


@dataclass(frozen=True)
class SearchQuery:
    """A parsed search: clauses that must all match, each any one of its terms (``timeout OR
    refused`` is one clause of two terms); and the terms no shown event may hold (``-word``),
    which only narrow what the clauses find."""

    clauses: tuple[tuple[Term, ...], ...]
    excluded: tuple[Term, ...] = ()

    @classmethod
    def parse(cls, text: str) -> SearchQuery:
        """Split typed text into clauses (quoted phrases kept whole; a bare ``OR`` between two
        terms makes them one clause, either of them); empty terms dropped."""
        clauses: list[tuple[Term, ...]] = []
        excluded: list[Term] = []
        joining = False
        for quote_minus, quoted, bare_minus, bare in _TERM.findall(text):
            if bare == "OR" and not bare_minus:
                joining = bool(clauses)
                continue
            term = tuple(tokens(quoted if quote_minus or quoted else bare))
            if not term:
                continue
            if quote_minus or bare_minus:
                if term not in excluded:
                    excluded.append(term)
            elif joining:
                clauses[-1] = tuple(dict.fromkeys((*clauses[-1], term)))
            elif (term,) not in clauses:
                clauses.append((term,))
            joining = False
        return cls(tuple(clauses), tuple(excluded))

    @property
    def terms(self) -> tuple[Term, ...]:
        """Every term looked for, of every clause (what a hit highlights)."""
        return tuple(term for clause in self.clauses for term in clause)

    def __bool__(self) -> bool:
        """True when there is a word to find: an exclusion alone finds nothing to narrow."""
        return bool(self.clauses)

    def fts(self) -> str:
        """The FTS5 MATCH expression: ``("a b c"* AND ("d 42" OR "f"*)) NOT "e"*`` (tokens
        are letters and digits only, so nothing in them needs quoting; a number is not a
        prefix)."""

        def phrase(term: Term) -> str:
            return '"' + " ".join(term) + ('"' if _whole(term[-1]) else '"*')

        def clause(terms: tuple[Term, ...]) -> str:
            either = " OR ".join(phrase(term) for term in terms)
            return either if len(terms) == 1 else f"({either})"

        found = " AND ".join(clause(terms) for terms in self.clauses)
        if not self.excluded:
            return found
        return f"({found})" + "".join(f" NOT {phrase(term)}" for term in self.excluded)

    def pattern(self) -> re.Pattern[str]:
        """A regex finding each hit in displayed text (for highlighting), case-insensitive;
        excluded terms are not hits."""
        alternatives = []
        for term in self.terms:
            parts = [re.escape(t) for t in term]
            end = r"(?![^\W_])" if _whole(term[-1]) else ""
            alternatives.append(r"(?<![^\W_])" + r"[\W_]+".join(parts) + end)
        return re.compile("|".join(alternatives), re.IGNORECASE)


def _whole(token: str) -> bool:
    """True when ``token`` matches only whole (a number), not as a prefix."""
    return token.isdigit()


def _term_in(term: Term, toks: list[str]) -> bool:
    head, last = term[:-1], term[-1]
    n = len(head)
    whole = _whole(last)
    for i in range(len(toks) - n):
        tok = toks[i + n]
        if (tok == last if whole else tok.startswith(last)) and all(
            toks[i + j] == head[j] for j in range(n)
        ):
            return True
    return False


def matches(query: SearchQuery, raw: bytes) -> bool:
    """True when the entry's bytes match a term of every clause and no excluded term (the
    index's rule, recomputed)."""
    toks = tokens(text_of(raw))
    return all(any(_term_in(t, toks) for t in clause) for clause in query.clauses) and not any(
        _term_in(term, toks) for term in query.excluded
    )


def highlight_spans(query: SearchQuery, text: str) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of each hit of ``query`` in ``text`` (for the table and JSON pane)."""
    if not query:
        return iter(())
    return (m.span() for m in query.pattern().finditer(text) if m.end() > m.start())


# -- writing (the sync writer and the upgrade) ---------------------------------------------------


def register(conn: sqlite3.Connection) -> None:
    """Make :data:`TEXT_FUNCTION` available on a writing connection."""
    conn.create_function(TEXT_FUNCTION, 1, lambda raw: text_of(bytes(raw)), deterministic=True)


def insert_texts(conn: sqlite3.Connection, items: Sequence[tuple[int, str]]) -> None:
    """Index entries whose text is already taken: ``(idx, text_of_event(event))`` pairs (the
    sync parses every event anyway; inside the caller's transaction)."""
    conn.executemany(f"INSERT INTO {TABLE}(rowid, body) VALUES (?, ?)", items)


def index_from(conn: sqlite3.Connection, first_idx: int) -> int:
    """Index every stored entry with ``idx >= first_idx`` (inside the caller's transaction).

    Called once per append batch after its rows are in (the entries of a batch are the highest
    indexes of the mirror). Returns how many entries were indexed.
    """
    register(conn)
    cur = conn.execute(
        f"INSERT INTO {TABLE}(rowid, body) SELECT idx, {TEXT_FUNCTION}(raw) FROM entries "
        "WHERE idx >= ? ORDER BY idx",
        (first_idx,),
    )
    return max(cur.rowcount, 0)


def rebuild(conn: sqlite3.Connection) -> int:
    """Drop and rebuild the whole index from the stored entries (the upgrade; a repair)."""
    conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
    for statement in CREATE:
        conn.execute(statement)
    return index_from(conn, -1)
