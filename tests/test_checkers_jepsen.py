"""Where we part from Jepsen on purpose: duplicates are reported.

Jepsen's `set-full` checker (jepsen/src/jepsen/checker.clj) is meant to report duplicated elements: for
every successful read it takes `(frequencies v)` of the elements read, keeps the entries for which
`(< v 1)` holds, and merges them with `max` into `:duplicated`; the result's `:valid?` also requires
that map to be empty. But a frequency is the count of an element actually present in the read, so it
is always at least 1 and `(< v 1)` is never true: `:duplicated` is always empty and `:duplicated-count`
always 0, whatever the read held. (The filter was presumably meant to be `(< 1 v)`.) A message stored
twice in the final read therefore passes set-full, while our checker reports it.
"""

from __future__ import annotations

from collections import Counter

from checkers_support import Story

from harness.checkers import check


def set_full_duplicates(reads: list[list[str]], keep=lambda n: n < 1) -> dict[str, int]:
    """set-full's duplicate fold, transcribed: per read, frequencies filtered by `keep`, merged by max."""
    dups: dict[str, int] = {}
    for read in reads:
        for element, n in Counter(read).items():
            if keep(n):
                dups[element] = max(dups.get(element, 0), n)
    return dups


def test_a_message_stored_twice_is_reported_where_set_full_reports_nothing() -> None:
    s = Story().start("c1")
    s.invoke("c1:1")
    first, second = s.store("c1:1"), s.store("c1:1")
    s.ack("c1:1")
    s.sent("c1:2", "c1")
    s.recv("c1", first).recv("c1", second)
    final_read = [row["content"].split(" ")[0] for row in s.rows]
    assert final_read.count("c1:1") == 2

    assert set_full_duplicates([final_read]) == {}  # set-full: :duplicated-count 0, valid
    assert set_full_duplicates([final_read], keep=lambda n: n > 1) == {"c1:1": 2}  # its intent

    verdict = check(s.end("c1").events, s.rows)
    assert verdict.client_to_server["duplicated"] == ["c1:1"]
    assert verdict.guarantees["at-most-once"] is False
