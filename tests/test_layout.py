from pipeline.ocr.layout import reading_order
from pipeline.ocr.types import OcrLine


def _box(text, x0, y0, x1, y1):
    return OcrLine(text, 0.9, ((x0, y0), (x1, y0), (x1, y1), (x0, y1)))


def test_two_columns_read_column_by_column_after_a_heading():
    lines = [_box("标题", 100, 10, 900, 50)]
    for i in range(4):
        y = 120 + 50 * i
        lines += [_box(f"左{i}", 100, y, 480, y + 30), _box(f"右{i}", 540, y, 900, y + 30)]
    order = [ln.text for ln in reading_order(lines[::-1])]
    assert order == ["标题", "左0", "左1", "左2", "左3", "右0", "右1", "右2", "右3"]


def test_vertical_columns_right_to_left_top_to_bottom():
    # Three columns; the middle one was detected as two pieces.
    lines = [_box("左", 100, 10, 140, 400), _box("中下", 200, 220, 240, 400), _box("中上", 200, 10, 240, 200),
             _box("右", 300, 10, 340, 400)]
    assert [ln.text for ln in reading_order(lines, vertical=True)] == ["右", "中上", "中下", "左"]
