from pipeline.ocr.accuracy import cer, edit_distance


def test_edit_distance_counts_each_kind_of_error():
    assert edit_distance("档案馆", "档案馆") == 0
    assert edit_distance("档案馆", "档安馆") == 1  # substitution
    assert edit_distance("档案", "档案馆") == 1  # deletion
    assert edit_distance("档案馆藏", "档馆") == 2
    assert edit_distance("", "档案") == 2


def test_cer_ignores_whitespace():
    assert cer("档 案\n馆", "档案馆") == (0, 3)
    assert cer("档案", " 档案馆 ") == (1, 3)
