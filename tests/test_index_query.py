import pytest

from pipeline.index.query import QueryError, parse


def _shape(q):
    return [(c.words, c.negated) for c in q.clauses]


def test_words_or_not_phrases():
    assert _shape(parse("档案 数字化")) == [(("档案",), False), (("数字化",), False)]
    assert _shape(parse("档案 OR 文件 开放")) == [(("档案", "文件"), False), (("开放",), False)]
    assert _shape(parse("档案 -开放 NOT 审核")) == [(("档案",), False), (("开放",), True), (("审核",), True)]
    assert _shape(parse('"开放 审核" 档')) == [(("开放审核",), False), (("档",), False)]
    assert _shape(parse("ＡＢＣ，档案")) == [(("abc档案",), False)]  # width and punctuation folded


def test_fts_syntax_is_literal():
    q = parse('NEAR( "*" a*b')
    assert _shape(q) == [(("near",), False), (("ab",), False)]


@pytest.mark.parametrize("bad, why", [("", "empty"), ("   ", "empty"), ("，。！", "no letters"),
                                      ("-开放", "only excludes"), ("档" * 300, "longer than 256")])
def test_unsearchable_queries(bad, why):
    with pytest.raises(QueryError, match=why):
        parse(bad)


def test_reference_semantics():
    q = parse("档案 OR 文件 -开放")
    assert q.matches("档案馆藏") and q.matches("文件") and not q.matches("开放档案") and not q.matches("馆藏")
