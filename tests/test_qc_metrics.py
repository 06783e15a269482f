import cv2
import numpy as np
import pytest
from PIL import Image

from pipeline.qc.metrics import measure

from .conftest import SAMPLES


@pytest.fixture(scope="module")
def page():
    return np.asarray(Image.open(SAMPLES / "J002-WS-2022-Y-ZHC-0001.png").convert("L"))  # made with -0.6° skew


def _rotate(g, angle):
    m = cv2.getRotationMatrix2D((g.shape[1] / 2, g.shape[0] / 2), angle, 1)
    return cv2.warpAffine(g, m, (g.shape[1], g.shape[0]), borderValue=245)


@pytest.mark.parametrize("extra", [0.0, 2.5, -4.0])
def test_skew_is_measured_within_a_few_tenths(page, extra):
    assert measure(_rotate(page, extra), 300).skew_degrees == pytest.approx(-0.6 + extra, abs=0.3)


def test_blank_blur_and_border(page):
    rng = np.random.default_rng(1)
    noisy_blank = np.clip(rng.normal(240, 6, page.shape), 0, 255).astype(np.uint8)
    assert measure(noisy_blank, 300).ink_ratio < 0.001
    assert measure(page, 300).ink_ratio > 0.01
    sharp = measure(page, 300).sharpness
    blurred = measure(cv2.GaussianBlur(page, (0, 0), 4), 300).sharpness
    assert sharp > 300 and blurred < 30
    bordered = page.copy()
    bordered[:, :90] = 15
    bordered[-90:, :] = 15
    assert measure(bordered, 300).border_sides == 2 and measure(page, 300).border_sides == 0


def test_measures_are_resolution_independent(page):
    half = cv2.resize(page, (page.shape[1] // 2, page.shape[0] // 2), interpolation=cv2.INTER_AREA)
    a, b = measure(page, 300), measure(half, 150)
    assert b.skew_degrees == pytest.approx(a.skew_degrees, abs=0.3)
    assert b.ink_ratio == pytest.approx(a.ink_ratio, rel=0.2)
