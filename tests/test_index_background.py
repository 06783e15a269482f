"""The indexer's work runs at a lower CPU priority than the searches it competes with."""

import os
import threading

import pytest

from pipeline.index import background
from pipeline.index.background import INDEXER_NICE, at_low_priority
from pipeline.index.query import Filters, parse
from pipeline.store import journal, open_store, pg_journal
from tests.test_store_journal import OPEN, _filled


def _nice() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def test_work_runs_niced_and_threads_it_starts_inherit_it():
    mine = _nice()
    seen = {}

    def work(x):
        seen["worker"] = _nice()
        t = threading.Thread(target=lambda: seen.__setitem__("child", _nice()))  # as tantivy's writer threads
        t.start()
        t.join()
        return x * 2

    assert at_low_priority(work, 21) == 42
    assert seen == {"worker": min(19, mine + INDEXER_NICE), "child": min(19, mine + INDEXER_NICE)}
    assert _nice() == mine  # the caller keeps its priority


def test_errors_reach_the_caller_as_they_were():
    def fail():
        raise KeyError("journal row 7")

    with pytest.raises(KeyError, match="journal row 7"):
        at_low_priority(fail)


def test_without_per_thread_priorities_the_work_still_runs(monkeypatch):
    def refuse(*_):
        raise OSError("not permitted")

    monkeypatch.setattr(background.os, "setpriority", refuse)
    assert at_low_priority(lambda: "done") == "done"


def test_stores_apply_the_journal_at_low_priority(store_url, monkeypatch):
    """A write's index update (tantivy's indexing, commit and merges) yields the CPU to searches."""
    seen = []
    module = pg_journal if store_url.startswith("postgres") else journal
    apply = module.catch_up

    def watched(*args, **kwargs):
        seen.append(_nice())
        return apply(*args, **kwargs)

    monkeypatch.setattr(module, "catch_up", watched)
    store = _filled(store_url)  # writes: each transaction brings the index up to date
    assert seen and all(n == min(19, _nice() + INDEXER_NICE) for n in seen)
    assert [r["refcode"] for r in store.search(parse("开放审核工作"), ["开放"], Filters())["rows"]] == [OPEN]
    store.close()
