import pytest
from openpyxl import Workbook

from pipeline.errors import CatalogueError
from pipeline.ingest.catalogue import find_catalogue, read_catalogue


def test_xlsx_catalogue_with_numbers_and_chinese_headers(tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.append(["档号", "全宗号", "年度", "保管期限", "题名", "开放状态", "页数", "文件名"])
    ws.append(["J001-WS·2020-Y-BGS-0001", "J001", 2020, "永久", "通知", "开放", 2, "a.tif"])
    ws.append(["J001-WS·2020-Y-BGS-0002", "J001", 2020.0, "永久", "报告", None, None, None])
    ws.append(["bad", None, None, None, None, None, None, None])
    path = tmp_path / "catalogue.xlsx"
    wb.save(path)
    assert find_catalogue(tmp_path) == path
    cat = read_catalogue(path)
    assert [(r.year, r.pages, r.files, r.open_status) for r in cat.rows] == [
        (2020, 2, ("a.tif",), "开放"), (2020, None, (), "未审核")]
    assert cat.errors == ["row 4: not a 档号 (DA/T 22 件 or DA/T 13 卷 form): 'bad'"]


def test_broken_xlsx(tmp_path):
    path = tmp_path / "catalogue.xlsx"
    path.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(CatalogueError, match="XLSX"):
        read_catalogue(path)
