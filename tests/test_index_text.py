import random

import pytest

from pipeline.index.query import Filters, QueryError, parse
from pipeline.index.text import compact, compact_chars, index_terms, snippet


def test_compact_folds_width_case_and_drops_punctuation():
    c = compact("ＡＢＣ，档案\n馆 2021")
    assert c.chars == "abc档案馆2021"
    assert c.origin[3] == 4  # 档 is the fifth character of the original


def test_terms_are_bigrams_and_characters():
    assert index_terms("档案馆") == ("档案 案馆", "档 案 馆")
    assert index_terms("档") == ("", "档")
    assert index_terms("") == ("", "")


def test_fast_folding_equals_per_character_normalisation():
    text = "ＡＢＣ，檔案\n館 2021 ½ ㎡ Straße İ ΣΑΣ e\u0301"
    assert compact_chars(text) == compact(text).chars == "abc档案馆202112m2straßeiσασe"


def test_snippet_marks_the_hit_and_rejoins_ocr_lines():
    s = snippet("推动重要档案数字化成果文字识别，有条件的进行语音\n识别。", ["语音识别"], width=4)
    assert s == "…件的进行【语音识别】。"
    assert snippet("甲乙丙丁", ["丁", "乙"], width=1) == "甲【乙】丙…"  # the earliest of the words


def test_search_equals_brute_force_substring(store_url):
    """Every hit and only hits, for 1-, 2- and long queries, against a brute-force scan."""
    from pipeline.store import open_store

    rng = random.Random(7)
    alphabet = "档案馆数字化率开放审核文字识别天津市，。 \n"
    store = open_store(store_url)
    store.db.execute("INSERT INTO items(refcode, fonds, open_status, updated_at) VALUES ('R','F','开放','t')")
    bodies = {}
    with store.tx() as db:
        for i in range(300):
            body = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
            bodies[i] = body
            store._index(db, f"page:R:{i}", "page", "R", i, body)
    queries = ["档", "案", "，", "档案", "数字", "字化率", "天津市档", "开放审核文字", "识别天"]
    queries += ["".join(rng.choice(alphabet[:14]) for _ in range(rng.randint(1, 4))) for _ in range(40)]
    for q in queries:
        if not compact(q).chars:
            with pytest.raises(QueryError):
                parse(q)
            continue
        want = {i for i, b in bodies.items() if compact(q).chars in compact(b).chars}
        found = store.search(parse(q), ["开放"], Filters(), limit=1000)
        assert {r["page_no"] for r in found["rows"]} == want, q
        assert found["total"] == len(want)
    # Re-indexing a page with new text removes its old terms.
    with store.tx() as db:
        store._index(db, "page:R:0", "page", "R", 0, "全新的内容")
    assert {r["page_no"] for r in store.search(parse("全新"), ["开放"], Filters())["rows"]} == {0}
    store.close()


def test_traditional_and_simplified_find_each_other(tmp_path):
    from pipeline.index.text import compact, simplified, snippet
    from pipeline.store import open_store

    assert simplified("檔案館藏") == "档案馆藏" and compact("檔案 館").chars == "档案馆"
    assert snippet("本館收藏檔案三千卷", ["档案"], 4) == "本館收藏【檔案】三千卷"  # shown as printed
    with open_store(f"sqlite:///{tmp_path / 's.sqlite'}") as store:
        with store.tx() as db:
            db.execute("INSERT INTO items(refcode, fonds, open_status, updated_at) VALUES ('J1-WS·2020-Y-0001', 'J1', '开放', 'x')")
            db.execute("INSERT INTO items(refcode, fonds, open_status, updated_at) VALUES ('J1-WS·2020-Y-0002', 'J1', '开放', 'x')")
            store._index(db, "page:a:1", "page", "J1-WS·2020-Y-0001", 1, "民國檔案整理")
            store._index(db, "page:b:1", "page", "J1-WS·2020-Y-0002", 1, "新中国档案整理")
        for q in ("档案整理", "檔案整理"):
            assert store.search(parse(q), ["开放"], Filters())["total"] == 2, q
        assert store.search(parse("民国"), ["开放"], Filters())["total"] == 1
        assert store.search(parse("中國"), ["开放"], Filters())["total"] == 1
