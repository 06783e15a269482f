"""The search page in a real browser (Debian's headless Chromium): search, filter, open a page with
the matching line boxed, open a recording at the segment's second. Screenshots are kept under
``out/test-artifacts/`` (or ``$DANGAN_TEST_ARTIFACTS``) for people to look at."""

import hashlib
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from pipeline.digitise import ingest_batch, recognise_pages
from pipeline.speech.engines import create_engine as create_speech_engine
from pipeline.speech.models import resolve_model
from pipeline.speech.stage import process_recordings
from pipeline.store import open_store

from .cdp import free_port, run_in_browser
from .conftest import ROOT, SAMPLES, make_settings
from .speech_fixtures import random_checkpoint

TOKEN = "browser-staff-token"
ARTIFACTS = Path(os.environ.get("DANGAN_TEST_ARTIFACTS") or ROOT / "out" / "test-artifacts")


@pytest.fixture(scope="module")
def site(tmp_path_factory, model_dir, engine):
    base = tmp_path_factory.mktemp("web")
    batch = base / "batch"
    batch.mkdir()
    for name in ("catalogue.csv", "J001-WS-2021-Y-BGS-0002.jpg", "J002-WS-2022-Y-ZHC-0001.png", "J001-LY-2021-Y-BGS-0001.wav"):
        shutil.copy(SAMPLES / name, batch)
    ckpt = random_checkpoint(base / "tiny.pt")
    profile = base / "profile.yaml"
    profile.write_text(f"web:\n  tokens:\n    {hashlib.sha256(TOKEN.encode()).hexdigest()}: staff\n"
                       f"speech:\n  model: {ckpt}\n", encoding="utf-8")
    # A random checkpoint emits gibberish; the guards that would drop it are off so there are segments.
    speech = {"model": str(ckpt), "temperature": [0.0], "beam_size": 1, "max_new_tokens": 24,
              "compression_ratio_threshold": None, "no_speech_threshold": None, "ct2_cache": str(base / "ct2")}
    settings = make_settings(base / "data", model_dir, speech=speech,
                             web={"tokens": {hashlib.sha256(TOKEN.encode()).hexdigest(): "staff"}})
    with open_store(settings.db_url) as store:
        ing = ingest_batch(batch, settings, store)
        recognise_pages(ing.pages, settings, store, engine, ing.batch)
        speech = create_speech_engine(settings.speech, resolve_model(settings.speech))
        process_recordings(ing.recordings, settings, store, speech)
        segment = store.db.execute("SELECT * FROM segments WHERE length(replace(text, ' ', '')) >= 2 "
                                   "ORDER BY start_ms").fetchone()
    assert segment is not None, "the random checkpoint produced no segment to search for"
    port = free_port()
    env = {**os.environ, "DANGAN_DATA_DIR": str(settings.data_dir), "DANGAN_MODEL_DIR": str(model_dir)}
    server = subprocess.Popen([sys.executable, "-m", "pipeline", "--profile", str(profile), "serve", "--port", str(port)],
                              env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url + "/openapi.json", timeout=2)
            break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise RuntimeError(f"dangan serve did not start: {server.stderr.read().decode()[-2000:]}") from None
            time.sleep(0.3)
    yield url, segment
    server.terminate()
    server.wait(10)


@pytest.mark.slow
def test_search_box_a_page_line_and_filter(site):
    url, _ = site

    async def script(page):
        await page.goto(url + "/?q=" + urllib.request.quote("开放审核制度"))
        public = await page.wait_for("document.getElementById('summary').textContent")
        await page.js(f"document.getElementById('token').value = '{TOKEN}'")
        await page.js("document.querySelector('#search button').click()")
        await page.wait_for("document.querySelectorAll('#hits li').length > 0")
        first = await page.js("[...document.querySelectorAll('#hits li')].map(li => "
                              "({ref: li.dataset.refcode, mark: li.querySelector('mark')?.textContent}))")
        await page.js("document.querySelector('#hits li').click()")
        await page.wait_for("document.querySelector('#page img')?.complete && "
                            "getComputedStyle(document.getElementById('box')).display === 'block'")
        geometry = await page.js("""(() => {
            const img = document.querySelector('#page img').getBoundingClientRect();
            const box = document.getElementById('box').getBoundingClientRect();
            return {img: [img.left, img.top, img.right, img.bottom], box: [box.left, box.top, box.right, box.bottom]};
        })()""")
        shot = await page.screenshot(ARTIFACTS / "search-page-line-boxed.png")
        # Facets: 档案 over both pages, then only 全宗 J002.
        await page.js("document.getElementById('q').value = '档案'; document.querySelector('#search button').click()")
        await page.wait_for("document.querySelectorAll('input[data-facet=fonds]').length === 2")
        await page.js("document.querySelector('input[data-facet=fonds][value=J002]').click()")
        await page.wait_for("[...document.querySelectorAll('#hits li')].every(li => li.dataset.refcode.startsWith('J002'))"
                            " && document.querySelectorAll('#hits li').length === 1")
        await page.screenshot(ARTIFACTS / "search-facet-fonds.png")
        return public, first, geometry, shot

    public, first, geometry, shot = run_in_browser(script)
    assert public.startswith("共 0 条")  # the page is 控制: the public sees nothing of it
    assert first == [{"ref": "J001-WS·2021-Y-BGS-0002", "mark": "开放审核制度"}]
    ix0, iy0, ix1, iy1 = geometry["img"]
    bx0, by0, bx1, by1 = geometry["box"]
    assert ix0 - 5 <= bx0 < bx1 <= ix1 + 5 and iy0 - 5 <= by0 < by1 <= iy1 + 5
    assert (by1 - by0) < (iy1 - iy0) / 10  # one line, not the page
    assert shot.stat().st_size > 10_000


@pytest.mark.slow
def test_a_segment_hit_opens_the_recording_at_its_second(site):
    url, segment = site
    word = segment["text"].replace(" ", "")[:2]
    start = segment["file_start_ms"] / 1000

    async def script(page):
        await page.goto(url + "/?q=" + urllib.request.quote(word))
        await page.wait_for("!!document.querySelector('#hits li[data-kind=segment]')")
        await page.js("document.querySelector('#hits li[data-kind=segment]').click()")
        await page.wait_for("document.getElementById('audio')?.readyState >= 1")
        state = await page.js("({t: document.getElementById('audio').currentTime, "
                              "lines: document.querySelectorAll('#transcript p').length, "
                              "now: document.querySelector('#transcript p.now')?.dataset.start})")
        await page.screenshot(ARTIFACTS / "search-recording-segment.png")
        return state

    state = run_in_browser(script)
    assert state["lines"] >= 1 and state["now"] is not None
    assert abs(state["t"] - float(state["now"])) < 0.05
    assert abs(float(state["now"]) - start) < 0.01  # the segment the hit named is the one highlighted


@pytest.mark.slow
def test_suggestions_while_typing_and_the_csv_export(site):
    """Typing offers continuations from text the user may see; 导出 CSV saves the current results."""
    url, _ = site

    async def script(page):
        await page.goto(url + "/")
        await page.js("localStorage.removeItem('dangan-token'); document.getElementById('token').value = ''")
        typed = "document.getElementById('q').value = '开放'; " \
                "document.getElementById('q').dispatchEvent(new Event('input'))"
        options = "[...document.querySelectorAll('#suggestions option')].map(o => o.value)"
        await page.js(typed)
        public = await page.wait_for(f"(() => {{ const o = {options}; return o.length ? o : null; }})()")
        await page.js(f"document.getElementById('token').value = '{TOKEN}'")
        await page.js(typed)
        staff = await page.wait_for(f"(() => {{ const o = {options}; return o.some(v => v.startsWith('开放审核')) ? o : null; }})()")
        await page.js("document.getElementById('q').value = '档案'; document.querySelector('#search button').click()")
        await page.wait_for("!document.getElementById('export').hidden")
        await page.js("document.getElementById('export').click()")
        table = await page.wait_for("(async () => { const a = document.getElementById('export-link');"
                                    " return a.href ? await (await fetch(a.href)).text() : null; })()")
        await page.screenshot(ARTIFACTS / "search-suggestions.png")
        return public, staff, table

    public, staff, table = run_in_browser(script)
    assert public and not any(v.startswith("开放审核") for v in public)  # 开放审核… is on a 控制 page only
    assert any(v.startswith("开放审核") for v in staff)
    lines = table.lstrip("\ufeff").splitlines()
    assert lines[0].startswith("档号,题名") and len(lines) == 3  # header + the two pages of the site's batch
    assert "J001-WS·2021-Y-BGS-0002" in table  # staff: the 控制 page is in the export too
