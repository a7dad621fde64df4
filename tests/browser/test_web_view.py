"""The web view in a real browser (Debian's chromium + chromedriver, driven by selenium, headless).

The real stack: preprocess, inference and gateway in this process (services.cli.local_stack, the bundled
default model), a Celery worker and the HTTP service (`python -m services.http`) as subprocesses, all with
a bearer token. The browser uploads the sample call, and what it draws is compared with the API's JSON;
it plays a segment; it follows a running batch job on the jobs page and cancels another.
Screenshots and the browser console go to artifacts/test-results/web_view/.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.cli.local_stack import local_stack
from shared.assets import sample_call_path
from shared.settings import Settings
from tests.helpers import REPO, clean_redis, free_port, results_path, start_worker, stop, wait_worker

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.celery]
DB = 2
TOKEN = "web-view-test-token"
# Debian's packages (`make test` installs them); SER_TEST_CHROMIUM / SER_TEST_CHROMEDRIVER point elsewhere
CHROMIUM = os.environ.get("SER_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = os.environ.get("SER_TEST_CHROMEDRIVER") or shutil.which("chromedriver") or "/usr/bin/chromedriver"
BATCH_FILES = 10  # the sample call analysed ten times: long enough (> 10 s here) to watch it move
TERMINAL = {"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_PARTIAL"}


@dataclass(frozen=True)
class Stack:
    url: str
    data: Path  # SER_DATA_ROOTS: batch inputs go here

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120)


def wait_for(check: Callable[[], Any], timeout_s: float, what: str, every_s: float = 0.1) -> Any:
    """The first truthy value of ``check()``, or a failure naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every_s)
    pytest.fail(f"timed out after {timeout_s} s waiting for {what}")


def wait_http(url: str, proc: subprocess.Popen, log: Path, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the HTTP service exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the HTTP service did not answer /healthz:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory, out) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("web_view")
    data = root / "data"
    data.mkdir()
    env = {**os.environ, "SER_REDIS_URL": clean_redis(DB), "SER_ARTIFACTS_DIR": str(root / "artifacts"),
           "SER_DATA_ROOTS": str(data), "SER_GATEWAY_TOKEN": TOKEN, "SER_LOG_JSON": "0",
           "OMP_NUM_THREADS": "1", "SER_TORCH_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    settings = Settings.from_env(env)
    with local_stack(settings, device="cpu", preload=True) as running:
        port = free_port()
        env = {**env, "SER_GATEWAY_ADDR": running.address("gateway"), "SER_HTTP_HOST": "127.0.0.1",
               "SER_HTTP_PORT": str(port)}
        worker = start_worker(env, root / "worker.log", queues="batch")
        with open(root / "http.log", "ab") as log:
            http = subprocess.Popen([sys.executable, "-m", "services.http"], cwd=REPO, env=env, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        try:
            from services.jobs.app import make_app

            wait_worker(make_app(Settings.from_env(env)), worker, root / "worker.log")
            wait_http(f"http://127.0.0.1:{port}", http, root / "http.log")
            yield Stack(f"http://127.0.0.1:{port}", data)
        finally:
            stop(http)
            stop(worker)
            for log in ("http.log", "worker.log"):  # next to the screenshots, for a failure in CI
                shutil.copy(root / log, out / log)


@pytest.fixture(scope="module")
def out() -> Path:
    folder = results_path("web_view")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "measured.json").unlink(missing_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser(out):
    if not (Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file()):
        pytest.fail("chromium and chromium-driver are not installed: `make test` installs them "
                    "(apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1500",
                "--mute-audio"):  # no autoplay override: playback must start from the user's click or key
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER, log_output=str(out / "chromedriver.log")),
                              options=options)
    driver.set_script_timeout(30)
    try:
        yield driver
    finally:
        console = driver.get_log("browser")
        (out / "browser-console.json").write_text(json.dumps(console, indent=2))
        driver.quit()


def record(out: Path, key: str, value: Any) -> None:
    """Numbers this run measured, in web_view/measured.json."""
    path = out / "measured.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    path.write_text(json.dumps({**data, key: value}, indent=2))


def js(driver, script: str, *args: Any) -> Any:
    return driver.execute_script(script, *args)


def player_state(driver) -> dict[str, Any]:
    return js(driver, "const p = document.getElementById('player');"
                      "return {t: p.currentTime, paused: p.paused, cursor: Number(document.getElementById('cursor')"
                      ".dataset.timeMs)};")


def drawn_segments(driver) -> list[dict[str, Any]]:
    return js(driver, """return [...document.querySelectorAll('#timeline rect.seg')].map(r => ({
        index: Number(r.dataset.index), participant: r.dataset.participant, lane: r.closest('g.lane').dataset.participant,
        start_ms: Number(r.dataset.startMs), end_ms: Number(r.dataset.endMs), label: r.dataset.label,
        opacity: Number(r.getAttribute('fill-opacity')), x: r.x.baseVal.value, width: r.width.baseVal.value,
        aria: r.getAttribute('aria-label'), focusable: r.tabIndex === 0}));""")


def play_and_check(driver, segment: dict[str, Any], start: Callable[[], None], out: Path, shot: str) -> None:
    """``start()`` plays ``segment``: the audio moves inside it, the cursor follows, and it stops at its end."""
    lo, hi = segment["start_ms"] / 1000, segment["end_ms"] / 1000
    start()
    playing = wait_for(lambda: (s := player_state(driver)) and not s["paused"] and lo + 0.05 < s["t"] < hi and s,
                       10, f"playback inside {lo:.2f}-{hi:.2f} s")
    assert lo * 1000 - 50 <= playing["cursor"] <= hi * 1000 + 50, playing
    driver.save_screenshot(str(out / shot))
    stopped = wait_for(lambda: (s := player_state(driver)) and s["paused"] and s, hi - lo + 5,
                       f"playback to stop at the segment end {hi:.2f} s")
    assert hi - 0.3 <= stopped["t"] <= hi + 0.5, (stopped, segment)


def open_with_token(browser, url: str) -> None:
    """The page, with the token in the tab's sessionStorage as the page's prompt keeps it (never in a URL)."""
    browser.get(f"{url.rstrip('/').rsplit('/', 1)[0] if url.rstrip('/').count('/') > 2 else url.rstrip('/')}/healthz")
    browser.execute_script("sessionStorage.setItem('ser.token', arguments[0])", TOKEN)
    browser.get(url)
    assert "token" not in browser.current_url


def test_call_page_draws_the_uploaded_sample_call_as_the_api_returns_it_and_plays_segments(stack, browser, out):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    open_with_token(browser, f"{stack.url}/")
    browser.find_element(By.ID, "call-file").send_keys(str(sample_call_path()))
    clicked = time.perf_counter()
    browser.find_element(By.ID, "upload-button").click()
    call_id = wait_for(lambda: js(browser, "return document.getElementById('call').dataset.callId"), 180,
                       "the timeline of the uploaded call")
    record(out, "upload_to_timeline_s", round(time.perf_counter() - clicked, 2))

    with stack.api() as api:
        result = api.get(f"/v1/calls/{call_id}").raise_for_status().json()
        listed = api.get("/v1/calls").raise_for_status().json()["calls"]
    assert listed[0]["call_id"] == call_id and listed[0]["filename"] == sample_call_path().name
    timeline = result["timeline"]
    assert {e["participant"] for e in timeline} == {"agent", "customer"}

    drawn = drawn_segments(browser)
    assert len(drawn) == len(timeline) > 0
    want = sorted((int(e["index"]), e["participant"], int(e["segment"]["start_ms"]), int(e["segment"]["end_ms"]),
                   e["emotion"]["top_label"]) for e in timeline)
    got = sorted((d["index"], d["participant"], d["start_ms"], d["end_ms"], d["label"]) for d in drawn)
    assert got == want
    by_index = {int(e["index"]): e for e in timeline}
    for d in drawn:
        entry = by_index[d["index"]]
        assert d["lane"] == d["participant"]  # drawn in its participant's lane
        # opacity = confidence; an uncertain segment is drawn hatched at full opacity instead
        opacity = 1.0 if entry["emotion"].get("uncertain") else entry["emotion"]["top_prob"]
        assert d["opacity"] == pytest.approx(opacity, abs=1e-3)
        assert d["focusable"] and entry["emotion"]["top_label"] in d["aria"] and d["participant"] in d["aria"]
    # x is proportional to time: within one lane segments are left to right without overlap
    for lane in {d["lane"] for d in drawn}:
        row = sorted((d for d in drawn if d["lane"] == lane), key=lambda d: d["start_ms"])
        assert all(a["x"] + a["width"] <= b["x"] + 0.5 for a, b in zip(row, row[1:], strict=False)), row
    legend = js(browser, "return [...document.querySelectorAll('#legend li')].map(li => li.dataset.label)")
    assert set(result["labels"]) <= set(legend)
    summary = js(browser, "return [...document.querySelectorAll('#summary tbody tr')].map(tr => "
                          "[tr.dataset.participant, ...[...tr.cells].map(c => c.textContent.trim())])")
    assert [(r[0], r[3]) for r in summary] == [
        (p["participant"], f"{int(p['talk_time_ms']) / 1000:.1f} s") for p in result["participants"]]
    # the valence curve: one line per participant through its segments' valence (y of +1 at the top of the band)
    band, lines = js(browser, """const band = document.querySelector('#timeline .valence rect');
        return [[band.y.baseVal.value, band.height.baseVal.value],
                Object.fromEntries([...document.querySelectorAll('#timeline .valence polyline')].map(l =>
                    [l.dataset.participant, [...l.points].map(p => p.y)]))];""")
    top, height = band
    assert set(lines) == {e["participant"] for e in timeline}
    for participant, ys in lines.items():
        mine = sorted((e for e in timeline if e["participant"] == participant), key=lambda e: int(e["segment"]["start_ms"]))
        assert ys == pytest.approx([top + (1 - (float(e["emotion"]["valence"]) + 1) / 2) * height for e in mine], abs=0.5)
    browser.save_screenshot(str(out / "call-page.png"))

    # click the longest customer segment: it plays from its start and stops at its end
    customer = max((d for d in drawn if d["participant"] == "customer"), key=lambda d: d["end_ms"] - d["start_ms"])
    rect = browser.find_element(By.CSS_SELECTOR, f"rect.seg[data-index='{customer['index']}']")
    play_and_check(browser, customer, lambda: ActionChains(browser).move_to_element(rect).click().perform(), out,
                   "call-page-playing.png")

    # the keyboard does the same: Tab focus + Enter on an agent segment
    agent = max((d for d in drawn if d["participant"] == "agent"), key=lambda d: d["end_ms"] - d["start_ms"])
    rect = browser.find_element(By.CSS_SELECTOR, f"rect.seg[data-index='{agent['index']}']")
    js(browser, "arguments[0].focus()", rect)
    assert js(browser, "return document.activeElement === arguments[0]", rect)
    play_and_check(browser, agent, lambda: ActionChains(browser).send_keys(Keys.ENTER).perform(), out,
                   "call-page-keyboard.png")

    # the stored call reopens from its link (audio fetched with the token) with the same timeline
    browser.get(f"{stack.url}/?call={call_id}")
    wait_for(lambda: js(browser, "return document.getElementById('call').dataset.callId") == call_id, 60,
             "the stored call")
    assert sorted((d["index"], d["participant"], d["start_ms"], d["end_ms"], d["label"])
                  for d in drawn_segments(browser)) == want
    play_and_check(browser, customer, lambda: browser.find_element(
        By.CSS_SELECTOR, f"rect.seg[data-index='{customer['index']}']").click(), out, "call-page-stored.png")


def publish_with_threshold(registry: Path, below: float, name: str = "unsure") -> None:
    """The running default model again, as ``name``, with ``serving.uncertain_below`` on its card."""
    from shared.registry.card import ModelCard
    from shared.registry.store import CARD, ModelRegistry

    version, path = ModelRegistry(registry).resolve("default")
    staging = registry / f".{name}"
    shutil.copytree(path, staging / version)
    card = ModelCard.from_json((staging / version / CARD).read_text(encoding="utf-8"))
    card = card.replace(name=name, serving={**card.serving, "uncertain_below": below})
    (staging / version / CARD).write_text(card.to_json(), encoding="utf-8")
    staging.rename(registry / name)


def test_call_page_draws_uncertain_segments_hatched_and_shows_the_talk_time_left_out(stack, browser, out):
    from selenium.webdriver.common.by import By

    sample = sample_call_path().read_bytes()
    with stack.api() as api:
        plain = api.post("/v1/calls:analyze", files={"file": ("call.wav", sample)}).raise_for_status().json()
        top = sorted({e["emotion"]["top_prob"] for e in plain["timeline"]})
        below = (top[len(top) // 2 - 1] + top[len(top) // 2]) / 2
        registry = stack.data.parent / "artifacts" / "registry"
        publish_with_threshold(registry, below)
        try:
            options = {"options": json.dumps({"model": {"name": "unsure"}})}
            reply = wait_for(lambda: (r := api.post("/v1/calls:analyze", files={"file": ("call.wav", sample)},
                                                    data=options)).status_code != 404 and r, 60, "the new model")
            result = reply.raise_for_status().json()
        finally:
            shutil.rmtree(registry / "unsure")
    flags = {int(e["index"]): e["emotion"]["uncertain"] for e in result["timeline"]}
    assert any(flags.values()) and not all(flags.values())

    open_with_token(browser, f"{stack.url}/?call={result['call_id']}")
    wait_for(lambda: js(browser, "return document.getElementById('call').dataset.callId") == result["call_id"], 60,
             "the call with uncertain segments")
    drawn = js(browser, """return [...document.querySelectorAll('#timeline rect.seg')].map(r => ({
        index: Number(r.dataset.index), uncertain: r.dataset.uncertain === 'true', fill: r.getAttribute('fill'),
        hatched: r.classList.contains('uncertain'), title: r.querySelector('title').textContent}));""")
    assert {d["index"]: d["uncertain"] for d in drawn} == flags
    for d in drawn:
        if d["uncertain"]:  # grey hatching, not the label's colour, and the tooltip says why
            assert d["hatched"] and d["fill"] == "url(#uncertain-hatch)" and "uncertain" in d["title"]
        else:
            assert not d["hatched"] and d["fill"].startswith("#") and "uncertain" not in d["title"]
    assert js(browser, "return document.getElementById('call').dataset.uncertain") == str(sum(flags.values()))
    note = browser.find_element(By.ID, "uncertain-note")
    assert note.is_displayed() and f"{100 * below:.0f}%" in note.text and "left out" in note.text
    legend = js(browser, "return [...document.querySelectorAll('#legend li')].map(li => li.dataset.label)")
    assert "uncertain" in legend
    cells = js(browser, "return Object.fromEntries([...document.querySelectorAll('#summary tbody tr')].map(tr => "
                        "[tr.dataset.participant, Number(tr.querySelector('[data-uncertain-ms]').dataset.uncertainMs)]))")
    assert cells == {p["participant"]: int(p["uncertain_ms"]) for p in result["participants"]}
    assert sum(cells.values()) > 0
    browser.save_screenshot(str(out / "call-page-uncertain.png"))


def test_call_page_shows_the_problem_of_a_bad_upload(stack, browser, out, tmp_path):
    from selenium.webdriver.common.by import By

    bad = tmp_path / "not_audio.wav"
    bad.write_text("this is not a recording\n" * 20)
    with stack.api() as api:
        problem = api.post("/v1/calls:analyze", files={"file": (bad.name, bad.read_bytes())}).json()
    open_with_token(browser, f"{stack.url}/")
    browser.find_element(By.ID, "call-file").send_keys(str(bad))
    browser.find_element(By.ID, "upload-button").click()
    alert = wait_for(lambda: browser.find_element(By.ID, "alert").text, 60, "the error alert")
    assert alert == f"{problem['title']}: {problem['detail']}"
    assert browser.find_element(By.ID, "alert").get_attribute("role") == "alert"
    browser.save_screenshot(str(out / "call-page-error.png"))


def submit_batch(stack: Stack, name: str, files: int) -> dict[str, Any]:
    folder = stack.data / name
    folder.mkdir()
    for i in range(files):
        shutil.copy(sample_call_path(), folder / f"call_{i:02d}.wav")
    with stack.api() as api:
        return api.post("/v1/jobs", json={"kind": "batch_analysis", "spec": {"manifest": str(folder)}}
                        ).raise_for_status().json()


def job_row(driver, job_id: str) -> dict[str, Any] | None:
    return js(driver, """const tr = document.querySelector(`tr[data-job-id="${arguments[0]}"]`);
        if (!tr) return null;
        const bar = tr.querySelector('progress.job-progress');
        return {state: tr.dataset.state, value: bar.value, label: bar.getAttribute('aria-label'),
                cancel: !tr.querySelector('button.cancel').disabled, results: !!tr.querySelector('a.results')};""",
              job_id)


def test_jobs_page_follows_a_running_batch_live_and_cancels_a_job(stack, browser, out):
    from selenium.webdriver.common.by import By

    job = submit_batch(stack, "batch", BATCH_FILES)
    open_with_token(browser, f"{stack.url}/jobs")
    seen: list[float] = []
    shot = False
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        row = job_row(browser, job["id"])
        if row:
            assert row["label"] and row["results"]
            seen.append(row["value"])
            if not shot and 0 < row["value"] < 1:
                browser.save_screenshot(str(out / "jobs-page-running.png"))
                shot = True
            if row["state"] in TERMINAL:
                break
        time.sleep(0.1)
    with stack.api() as api:
        final = api.get(f"/v1/jobs/{job['id']}").raise_for_status().json()
    assert final["state"] == "JOB_STATE_SUCCEEDED", final
    assert row["state"] == final["state"] and row["value"] == pytest.approx(1.0) and not row["cancel"]
    # the bar moved while the job ran: several values in between, never backwards
    assert all(a <= b for a, b in zip(seen, seen[1:], strict=False)), seen
    assert len({v for v in seen if 0 < v < 1}) >= 2, sorted(set(seen))
    record(out, "batch_progress_values_seen", sorted(set(seen)))
    browser.save_screenshot(str(out / "jobs-page-done.png"))

    browser.find_element(By.CSS_SELECTOR, f"tr[data-job-id='{job['id']}'] a.results").click()
    facts = wait_for(lambda: browser.find_element(By.ID, "results-facts").text, 20, "the batch's results")
    assert final["result_uri"] and final["result_uri"] in facts
    files = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#results-files tbody tr[data-ok='true']"), 20,
                     "the batch's files")
    assert len(files) == BATCH_FILES and all("analysed" in f.text for f in files)

    # a second batch is cancelled from its row: the API then reports it cancelled
    second = submit_batch(stack, "batch2", BATCH_FILES)
    wait_for(lambda: (r := job_row(browser, second["id"])) and r["cancel"], 20, "the new job's row")
    browser.find_element(By.CSS_SELECTOR, f"tr[data-job-id='{second['id']}'] button.cancel").click()
    wait_for(lambda: job_row(browser, second["id"])["state"] == "JOB_STATE_CANCELLED", 30, "the cancelled state")
    with stack.api() as api:
        assert api.get(f"/v1/jobs/{second['id']}").raise_for_status().json()["state"] == "JOB_STATE_CANCELLED"
    browser.save_screenshot(str(out / "jobs-page-cancelled.png"))
