"""The review UI in a real headless Chromium (Selenium + Debian's chromium-driver): log in, upload a
scanned PDF, open it, move between risky cells with the keyboard, type values, Enter; the report ends
verified. Screenshots go to $GONGKAI_TEST_ARTIFACTS (default out/test-artifacts/browser)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import conftest_service as fx
from tests.conftest import ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
ARTIFACTS = Path(os.environ.get("GONGKAI_TEST_ARTIFACTS", ROOT / "out" / "test-artifacts")) / "browser"

heavy_scanned_pdf = fx.heavy_scanned_pdf  # the shared fixture, bound to this module's name so pytest finds it
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (CHROMIUM and CHROMEDRIVER),
        reason="chromium and chromedriver are not installed (apt-get install -y chromium chromium-driver)",
    ),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gongkai(*args: str, env: dict) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "gongkai.cli", *args], env=env, capture_output=True, text=True, check=True, cwd=ROOT
    )
    return out.stdout


@contextlib.contextmanager
def serving(env: dict, tmp_path: Path) -> Iterator[str]:
    """`gongkai serve` as users run it, on a free port, until the block ends; yields its base URL.
    Its output goes to tmp_path/serve.log."""
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gongkai.cli", "serve", "--port", str(port)], env=env, cwd=ROOT, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                urllib.request.urlopen(base + "/v1/health", timeout=2)
                break
            except OSError:
                assert proc.poll() is None, (tmp_path / "serve.log").read_text()
                assert time.monotonic() < deadline, "gongkai serve did not start"
                time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture
def server(tmp_path: Path):
    """`gongkai serve` as users run it: a fresh data folder, embedded SQLite, in-process worker."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(GONGKAI_DATA_DIR=str(tmp_path / "data"), GONGKAI_OCR_PAGE_TIMEOUT_S="900", PYTHONUNBUFFERED="1")
    reviewer = json.loads(gongkai("tokens", "create", "--role", "reviewer", "--name", "审核员甲", "--json", env=env))["token"]
    with serving(env, tmp_path) as base:
        yield base, reviewer, env
    serve_log = (tmp_path / "serve.log").read_text()
    assert reviewer not in serve_log, "a token must never be logged"


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as DriverService

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1600,1100", "--lang=zh-CN"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=DriverService(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def diagnose(driver) -> None:
    """On failure: a screenshot, the page's HTML and the browser console next to the other artifacts."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / "failure.png"))
    (ARTIFACTS / "failure.html").write_text(driver.page_source, encoding="utf-8")
    try:
        logs = driver.get_log("browser")
    except Exception:
        logs = []
    (ARTIFACTS / "failure-console.txt").write_text("\n".join(str(x) for x in logs), encoding="utf-8")


def shot(driver, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def test_review_ui_loop(server, browser, heavy_scanned_pdf):
    for old in ARTIFACTS.glob("failure*"):
        old.unlink()
    try:
        review_loop(server, browser, heavy_scanned_pdf)
    except BaseException:
        diagnose(browser)
        raise


def review_loop(server, browser, scanned_pdf) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    base, token, _env = server
    pdf, truth = scanned_pdf
    d = browser
    wait = WebDriverWait(d, 600, poll_frequency=0.2)  # OCR of 4 pages on a shared, loaded machine

    # log in with the token (typed, as a person would)
    d.get(base + "/")
    wait.until(EC.visibility_of_element_located((By.ID, "token"))).send_keys(token)
    d.find_element(By.ID, "login-btn").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "who"), "审核员甲"))

    # upload the scanned PDF through the page's file input
    wait.until(EC.presence_of_element_located((By.ID, "files"))).send_keys(str(pdf))
    d.find_element(By.CSS_SELECTOR, "#upload button").click()
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#doclist tbody tr")))
    # the list refreshes itself while the document is processed
    wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, "#doclist tbody tr"), "待审核"))
    row = d.find_element(By.CSS_SELECTOR, "#doclist tbody tr")
    open_count = int(row.find_element(By.CSS_SELECTOR, "td.open").text)
    assert open_count > 0
    shot(d, "1-document-list")

    # open the document: page image with cell boxes, the canonical tables beside it
    row.find_element(By.TAG_NAME, "a").click()
    wait.until(lambda drv: drv.execute_script("const i = document.getElementById('pageimg'); return i && i.complete && i.naturalWidth > 0"))
    wait.until(lambda drv: len(drv.find_elements(By.CSS_SELECTOR, ".cellbox")) > 0)
    assert d.find_elements(By.CSS_SELECTOR, ".cellbox.risky, .cellbox.failing") or d.find_elements(By.CSS_SELECTOR, "td.v.risky")
    assert len(d.find_elements(By.CSS_SELECTOR, "#tables td.v")) == len(truth["cells"])
    assert "三、收到和处理政府信息公开申请情况" in d.find_element(By.ID, "tables").text

    def text_of(element_id: str) -> str:
        # read through JS: the panel is re-rendered after every action (no stale element references)
        return d.execute_script(f"const e = document.getElementById('{element_id}'); return e ? e.textContent : ''")

    def current() -> str:
        return text_of("cell-id")

    # a click on a box drawn over the page selects that cell and shows its crop
    box = d.find_elements(By.CSS_SELECTOR, ".cellbox")[0]
    clicked = box.get_attribute("data-cell")
    d.execute_script("arguments[0].scrollIntoView({block: 'center'})", box)
    box.click()
    wait.until(lambda drv: current() == clicked)
    wait.until(EC.presence_of_element_located((By.ID, "crop")))
    shot(d, "2-document-view")

    # keyboard: next / previous risky cell
    d.find_element(By.ID, "value").send_keys(Keys.ARROW_DOWN)
    wait.until(lambda drv: current() != clicked)
    first = current()
    d.find_element(By.ID, "value").send_keys(Keys.ARROW_DOWN)
    wait.until(lambda drv: current() != first)
    second = current()
    d.find_element(By.ID, "value").send_keys(Keys.ARROW_UP)
    wait.until(lambda drv: current() == first)

    # review every risky cell: type what the page says (the truth), Enter
    corrected = []
    for _ in range(open_count + 5):
        if text_of("opencount") == "0":
            break
        cid = current()
        box = d.find_element(By.ID, "value")
        want = truth["cells"][cid]
        if box.get_attribute("value") != ("" if want is None else str(want)):
            corrected.append(cid)
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys("-" if want is None else str(want))  # "-": a cell the report leaves blank
        box.send_keys(Keys.ENTER)
        # the next risky cell's panel is up (or nothing is left to review)
        wait.until(lambda drv, c=cid: current() != c or text_of("opencount") == "0")
        if cid == second:
            shot(d, "3-after-first-entries")
    wait.until(EC.text_to_be_present_in_element((By.ID, "docstatus"), "已核验"))
    d.execute_script("window.scrollTo(0, 0)")
    shot(d, "4-verified")

    # the corrections went through the API with the reviewer's name in the audit trail
    req = urllib.request.Request(f"{base}/v1/documents/1/audit", headers={"Authorization": f"Bearer {token}"})
    audit = json.loads(urllib.request.urlopen(req).read())
    assert {a["reviewer"] for a in audit} == {"审核员甲"}
    assert {a["cell_id"] for a in audit if a["action"] == "correct"} == set(corrected)
    req = urllib.request.Request(f"{base}/v1/documents/1/result", headers={"Authorization": f"Bearer {token}"})
    result = json.loads(urllib.request.urlopen(req).read())
    assert all(result["cells"][c]["value"] == truth["cells"][c] for c in corrected)
