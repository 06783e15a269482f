import pytest

from pipeline.errors import RefCodeError
from pipeline.refcode import RefCode, is_refcode


@pytest.mark.parametrize("text", ["J001-WS·2019-Y-BGS-0001", "J001-WS.2019-Y-BGS-0001", "J001-WS-2019-Y-BGS-0001",
                                  "j001-ws・2019-y-bgs-0001", " J001-WS·2019-Y-BGS-0001 "])
def test_item_level_variants_parse_to_one_canonical_form(text):
    ref = RefCode.parse(text)
    assert str(ref) == "J001-WS·2019-Y-BGS-0001"
    assert (ref.fonds, ref.category, ref.year, ref.retention, ref.org, ref.number) == ("J001", "WS", 2019, "Y", "BGS", "0001")
    assert ref.level == "item"


def test_retention_period_codes():
    assert RefCode.parse("J002-WS·2022-D30-ZHC-0012").retention == "D30"


def test_file_unit_form():
    ref = RefCode.parse("J001-003-0045")
    assert ref.level == "file_unit" and (ref.catalogue, ref.unit) == ("003", "0045")
    assert str(RefCode.parse("J001-003-0045-02")) == "J001-003-0045-02"


@pytest.mark.parametrize("bad", ["", "档案", "J001-WS·19-Y-BGS-1", "J001-WS·2019-X-BGS-0001", "J001 WS 2019"])
def test_invalid_refcodes_raise(bad):
    with pytest.raises(RefCodeError):
        RefCode.parse(bad)
    assert not is_refcode(bad)
