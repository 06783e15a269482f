import numpy as np
import pytest

from bench.pages import make_page
from pipeline.config import PreprocessSettings
from pipeline.preprocess import prepare_page
from pipeline.preprocess.clean import flatten_background
from pipeline.ocr.vertical import character_cells, median_u8, restack
from pipeline.preprocess.geometry import find_border, measure_skew


def _arr(page):
    return np.asarray(page.image)


def test_deskew_measures_and_removes_the_skew():
    page = make_page("skewed", 4, dpi=100)
    angle, _ = measure_skew(_arr(page))
    assert angle == pytest.approx(page.meta["skew"], abs=0.3)
    prepared = prepare_page(_arr(page), PreprocessSettings(orientation=False), dpi=100)
    step = next(s for s in prepared.steps if s.name == "deskew")
    assert step.params["applied"] and step.params["angle"] == pytest.approx(page.meta["skew"], abs=0.3)
    residual, _ = measure_skew(prepared.image)
    assert abs(residual) < 0.3  # DA/T 31 asks for <= 3° after correction (local rule)


def test_straight_page_is_not_resampled():
    arr = _arr(make_page("horizontal", 1, dpi=100))
    cfg = PreprocessSettings(orientation=False, clean_background=False, despeckle=False, mask_seals=False)
    prepared = prepare_page(arr, cfg, 100)
    assert prepared.steps[-1].params["applied"] is False
    assert prepared.image.shape == arr.shape and np.array_equal(prepared.image, arr)


def _border_at_full_size(arr, level):
    """find_border's rule on every row and column of the page: the reference."""
    import cv2

    dark = cv2.cvtColor(arr, cv2.COLOR_RGB2GRAY) <= np.ceil(0.5 * level) - 1

    def inward(profile):
        n = 0
        while n < len(profile) // 4 and profile[n] > 0.6:
            n += 1
        return n

    rows, cols = dark.mean(axis=1), dark.mean(axis=0)
    h, w = dark.shape
    return inward(cols), inward(rows), w - inward(cols[::-1]), h - inward(rows[::-1])


def test_the_border_found_from_bands_is_the_border_every_row_and_column_would_give():
    """find_border judges full-size rows and columns only near the edges, as deep as the sample
    suggests and deeper until paper: the same box as judging them all, even where the sample is
    misled (a border dark in two columns of three, which every third pixel sees as paper)."""
    from pipeline.preprocess.geometry import percentile_u8, sample

    page = np.full((3000, 2000, 3), 235, np.uint8)
    page[:50, np.arange(2000) % 3 != 0] = 20  # the sample's columns are its paper ones
    page[:, :5] = 30
    page[-7:] = 25
    page[:, -600:] = 15  # deeper than a quarter: a quarter is the most taken
    pages = [page] + [_arr(make_page("noisy", seed, dpi=dpi)) for seed, dpi in ((2, 100), (100, 300), (103, 200))]
    for arr in pages:
        g, f = sample(arr)
        assert f == max(1, max(arr.shape[:2]) // 1000)
        assert np.array_equal(g, cv2_grey(arr)[::f, ::f][: g.shape[0], : g.shape[1]])  # every f-th pixel, grey
        assert find_border(arr) == _border_at_full_size(arr, percentile_u8(g[::2, ::2], 90))
    assert find_border(page) == (5, 50, 1500, 2993)


def cv2_grey(arr):
    import cv2

    return cv2.cvtColor(arr, cv2.COLOR_RGB2GRAY)


def test_border_crop_finds_the_sheet():
    page = make_page("noisy", 2, dpi=100)
    arr = _arr(page)
    x0, y0, x1, y1 = find_border(arr)
    assert 0 < x0 < 0.06 * arr.shape[1] and 0 < y0 < 0.06 * arr.shape[0]
    inner = arr[y0:y1, x0:x1].mean(axis=2)
    assert (inner[:, :3] < 80).mean() < 0.5 and (inner[:3, :] < 80).mean() < 0.5  # no lid edge left


def test_cleanup_keeps_the_red_seal_and_removes_stains():
    page = make_page("seal", 3, dpi=100)
    arr = _arr(page).copy()
    h, w = arr.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    stain = np.exp(-(((yy - h / 2) ** 2 + (xx - w / 4) ** 2) / (2 * (0.2 * w) ** 2)))[..., None]
    stained = np.clip(arr * (1 - 0.3 * stain), 0, 255).astype(np.uint8)

    def red(a):
        a = a.astype(int)
        return (a[..., 0] > 150) & (a[..., 1] < 110) & (a[..., 2] < 110)

    cleaned = flatten_background(stained, 51)
    assert red(cleaned).sum() >= 0.8 * red(arr).sum() > 50  # the seal is still red
    paper = ~(stained.min(axis=2) < 200) & (stain[..., 0] > 0.5)  # stained paper, no ink
    assert cleaned[paper].mean() > stained[paper].mean() + 30 and cleaned[paper].mean() > 235


def test_seals_are_masked_for_ocr_but_red_text_lines_are_not():
    from PIL import ImageDraw

    from bench.pages import RED, font
    from pipeline.preprocess.clean import find_seals, mask_seals

    page = make_page("seal", 3, dpi=100)
    d = ImageDraw.Draw(page.image)
    d.text((80, 40), "天津市档案馆文件", font=font(40), fill=RED)  # a 红头 line: text, not a seal
    arr = np.asarray(page.image)
    _, boxes = find_seals(arr, 100)
    assert len(boxes) == 1
    x0, y0, x1, y1 = boxes[0]
    assert y0 > 100  # the seal in the body, not the red heading at the top
    masked, _ = mask_seals(arr, 100)
    red = lambda a: ((a[..., 0].astype(int) - a[..., 1:].max(axis=2)) > 60).sum()  # noqa: E731
    assert red(masked[y0:y1, x0:x1]) < 0.05 * red(arr[y0:y1, x0:x1])
    assert red(masked[:100]) == red(arr[:100]) > 100  # the heading keeps its red


def test_the_text_rows_are_the_rows_with_more_than_paper():
    """The rows the detector will read: every mark darker than the levels' white point (a page
    number at the foot included), not the paper or faint show-through the levels make white."""
    page = np.full((2339, 1654, 3), 245, np.uint8)
    page[300:340, 200:1400] = 30  # two lines of "text"
    page[900:930, 200:900] = 40
    page[1500:1520, 200:1400] = 228  # show-through: lighter than the white point
    cfg = PreprocessSettings(orientation=False, deskew=False)
    prepared = prepare_page(page, cfg, 200)
    y0, y1 = prepared.text_rows
    assert 300 - 2 <= y0 <= 300 and 930 <= y1 <= 930 + 2  # the sample's rows: every 2nd at this size
    step = next(s for s in prepared.steps if s.name == "text_rows")
    assert step.params["rows"] == [y0, y1] and step.params["fraction"] < 0.3
    page[2200:2215, 800:850] = 60  # a page number
    assert prepare_page(page, cfg, 200).text_rows[1] >= 2215
    assert prepare_page(page, cfg.model_copy(update={"text_rows": False}), 200).text_rows is None
    blank = prepare_page(np.full((2339, 1654, 3), 245, np.uint8), cfg, 200)
    assert blank.text_rows is None and "text_rows" not in [s.name for s in blank.steps]


def test_each_step_is_recorded_and_can_be_switched_off():
    arr = _arr(make_page("noisy", 1, dpi=100))
    on = prepare_page(arr, PreprocessSettings(binarise=True), 100)
    assert [s.name for s in on.steps] == ["border_crop", "deskew", "clean_background", "text_rows", "mask_seals",
                                          "despeckle", "binarise"]
    assert all("seconds" in d for d in on.record()) and on.record()[0]["box"]
    assert set(np.unique(on.ocr_image)) <= {0, 255} and on.image.ndim == 3  # access copy stays colour
    off = prepare_page(arr, PreprocessSettings(enabled=False), 100)
    assert off.steps == [] and off.image is arr
    some = prepare_page(arr, PreprocessSettings(border_crop=False, despeckle=False), 100)
    assert [s.name for s in some.steps] == ["deskew", "clean_background", "text_rows", "mask_seals"]


@pytest.mark.slow
@pytest.mark.parametrize("kind,angle,vertical", [("rot90", 270, False), ("rot180", 180, False), ("rot270", 90, False),
                                                 ("vertical_tc", 0, True), ("horizontal", 0, False)])
def test_orientation_from_the_engine(engine, kind, angle, vertical):
    page = make_page(kind, 5, dpi=150)
    o = engine.get_orientation(_arr(page))
    assert (o.angle, o.vertical) == (angle, vertical), o.scores


def test_deskew_on_the_shrunk_copy_finds_a_3_degree_skew_at_300_dpi():
    page = make_page("skewed", 7, dpi=300)
    prepared = prepare_page(_arr(page), PreprocessSettings(orientation=False), dpi=300)
    step = next(s for s in prepared.steps if s.name == "deskew")
    assert step.params["applied"] and step.params["angle"] == pytest.approx(page.meta["skew"], abs=0.3)
    assert abs(measure_skew(prepared.image)[0]) < 0.3


@pytest.mark.parametrize("seed", [102, 109, 110])
def test_stains_and_specks_are_not_taken_for_a_skew(seed):
    """Noisy pages that measured false skews of 4.65-10.5° before the background was divided out."""
    prepared = prepare_page(_arr(make_page("noisy", seed, dpi=300)), PreprocessSettings(orientation=False), dpi=300)
    step = next(s for s in prepared.steps if s.name == "deskew")
    assert not step.params["applied"] and abs(step.params["angle"]) < 0.3, step.params


def test_background_is_divided_out_only_where_it_is_uneven():
    def cleaning(kind):
        prepared = prepare_page(_arr(make_page(kind, 2, dpi=150)), PreprocessSettings(orientation=False), dpi=150)
        return next(s for s in prepared.steps if s.name == "clean_background").params

    assert cleaning("horizontal")["flattened"] is False  # clean paper: levels only
    assert cleaning("noisy")["flattened"] is True  # stains and uneven light: divided out


def test_fast_histogram_helpers_match_numpy_and_opencv():
    import cv2

    from pipeline.preprocess.clean import otsu_u8
    from pipeline.preprocess.geometry import percentile_u8

    g = cv2.cvtColor(_arr(make_page("low_contrast", 1, dpi=100)), cv2.COLOR_RGB2GRAY)
    assert percentile_u8(g, 0.5) == pytest.approx(np.percentile(g, 0.5), abs=1)
    hist = cv2.calcHist([g], [0], None, [256], [0, 256]).ravel()
    assert otsu_u8(hist) == pytest.approx(cv2.threshold(g, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)[0], abs=1)


@pytest.mark.slow
def test_an_upright_page_is_read_once_while_finding_its_orientation(engine):
    calls = []
    read = engine._read
    engine._read = lambda crops: calls.append(len(crops)) or read(crops)
    try:
        o = engine.get_orientation(_arr(make_page("horizontal", 5, dpi=150)))
    finally:
        engine._read = read
    assert (o.angle, o.vertical) == (0, False) and o.lines and len(calls) == 1  # no separate probe
    assert "档案" in "".join(ln.text for ln in o.lines)


@pytest.mark.slow
def test_an_upright_vertical_page_is_read_with_one_probe_and_its_lines_handed_on(engine):
    """Upright 竖排: read whole (restacked) and one 90° probe settle it; a turned page tries all four."""
    def orientation(kind, **kw):
        calls = []
        read = engine._read
        engine._read = lambda crops: calls.append(len(crops)) or read(crops)
        try:
            return engine.get_orientation(_arr(make_page(kind, 5, dpi=150)), **kw), calls
        finally:
            engine._read = read

    o, calls = orientation("vertical_tc")
    assert (o.angle, o.vertical) == (0, True) and len(calls) == 2 and set(o.scores) == {"0v", "90h"}
    assert o.lines and "檔案" in "".join(ln.text for ln in o.lines)
    assert engine.recognise(_arr(make_page("vertical_tc", 5, dpi=150)), vertical=True, boxes=o.boxes) == o.lines
    o, calls = orientation("vertical_tc", read_vertical=False)  # another engine reads vertical pages
    assert (o.angle, o.vertical) == (0, True) and o.lines is None and len(calls) == 2
    o, calls = orientation("rot90")
    assert (o.angle, o.vertical) == (270, False) and o.lines is None and len(calls) == 4


@pytest.mark.parametrize("seed", [100, 101, 104, 111])
def test_seals_are_found_at_300_dpi_from_every_4th_pixel(seed):
    """The sampled search finds each seal whole (bare samples once broke a ring into pieces), and the
    mask is exact: red pixels inside the seal, nothing outside it."""
    from pipeline.preprocess.clean import find_seals, red_ink

    arr = _arr(make_page("seal", seed, dpi=300))
    mask, boxes = find_seals(arr, 300)
    assert len(boxes) == 1
    x0, y0, x1, y1 = boxes[0]
    assert 0.5 * 300 <= x1 - x0 <= 2.5 * 300 and 0.75 <= (x1 - x0) / (y1 - y0) <= 1.33
    red = red_ink(arr) > 0
    assert np.array_equal(mask[y0:y1, x0:x1], red[y0:y1, x0:x1]) and not mask.sum() - mask[y0:y1, x0:x1].sum()
    assert red[y0:y1, x0:x1].sum() >= 0.95 * red.sum()  # the whole seal is inside its box


def test_speck_density_tells_a_dusty_page_from_a_clean_one():
    from pipeline.preprocess.clean import speck_density

    assert speck_density(_arr(make_page("noisy", 100, dpi=300)), 300) > 100
    assert speck_density(_arr(make_page("horizontal", 100, dpi=300)), 300) < 5


def test_a_colour_page_is_rotated_as_the_plain_warp_would_rotate_it(monkeypatch):
    """geometry.rotate warps colour directly or through RGBA (OpenCV's 4-channel path), whichever
    this process measured faster: both the same pixels as the plain warp, here each channel
    warped on its own and merged."""
    import cv2

    from pipeline.preprocess import geometry

    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, (301, 217, 3), dtype=np.uint8)
    fill = (240, 235, 220)
    for way in ("rgba", "rgb"):
        # monkeypatch puts back what this process measured, whatever happens here.
        chosen = {"rgba": 1.0, "rgb": 2.0} if way == "rgba" else {"rgba": 2.0, "rgb": 1.0}
        monkeypatch.setattr(geometry.COLOUR_WARP, "per_pixel", chosen)
        for angle in (3.7, -2.25, 90.0):
            got = geometry.rotate(image, angle, fill)
            want = cv2.merge([geometry.rotate(np.ascontiguousarray(image[..., c]), angle, (fill[c],))
                              for c in range(3)])
            assert got.shape == want.shape and np.array_equal(got, want), way
            assert tuple(got[0, 0]) == fill or angle == 90.0  # the corners are filled with the paper


def test_the_faster_of_two_ways_is_measured_on_real_calls_then_kept():
    from pipeline.preprocess.geometry import Fastest

    fastest = Fastest("a", "b")
    assert fastest.choose() == "a"
    fastest.record("a", 2.0, 1000)
    assert fastest.choose() == "b"  # each way is timed once before any is kept
    fastest.record("b", 3.0, 3000)  # faster per pixel on a larger page
    assert [fastest.choose() for _ in range(3)] == ["b"] * 3
    fastest.record("b", 9.0, 1000)  # later calls do not change the choice
    assert fastest.choose() == "b"


def test_a_columns_background_is_its_median_from_a_histogram():
    """``median_u8``: np.median's value (two middle values averaged, truncated as uint8 takes them)."""
    rng = np.random.default_rng(5)
    for shape in ((31, 7, 3), (40, 9, 3), (25, 12), (1, 1, 3), (64, 3)):
        crop = rng.integers(0, 256, shape, dtype=np.uint8)
        flat = crop.reshape(-1, shape[2]) if crop.ndim == 3 else crop.reshape(-1)
        want = np.empty(shape[2:], np.uint8)
        want[...] = np.median(flat, axis=0)
        assert np.array_equal(median_u8(crop), want), shape


def test_a_column_is_cut_into_its_characters_at_blank_rows():
    ink, blank = np.zeros((10, 20), np.uint8), np.full((4, 20), 255, np.uint8)
    ink[:, 5:15] = 255
    column = np.vstack([blank, 255 - ink, blank, 255 - ink[:3], np.full((1, 20), 255, np.uint8), 255 - ink[:3],
                        blank, 255 - np.vstack([ink] * 3), blank])
    # 10 rows; then two runs of 3 a row apart (one character, as 二); then 30 rows: three touching characters.
    assert character_cells(column) == [(4, 14), (18, 25), (29, 39), (39, 49), (49, 59)]


def test_a_restacked_column_sets_its_characters_at_their_own_width():
    """A column box 60 px wide holding characters 20 px wide: the strip keeps the box's room above
    and below each character but sets them side by side at their width plus a small gap."""
    column = np.full((100, 60, 3), 250, np.uint8)
    for y in (5, 40, 75):
        column[y : y + 20, 20:40] = 10
    strip = restack(column)
    gap, slot = 60 // 8, 20 + 60 // 12
    assert strip.shape == (60 + 2 * gap, 2 * gap + 3 * slot, 3)
    ink_cols = np.flatnonzero((strip[..., 0] < 128).any(axis=0))
    starts = ink_cols[np.flatnonzero(np.diff(np.concatenate(([-2], ink_cols))) > 1)]
    assert list(np.diff(starts)) == [slot, slot]
    assert (strip[..., 0] < 128).sum() == 3 * 20 * 20  # every character whole, nothing else
