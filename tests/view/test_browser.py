"""The page in a real browser: headless Chromium from Debian's packages, driven by Selenium.

`scripts/run.sh setup` installs `chromium` and `chromium-driver`; the driver is given by path, so
Selenium Manager never looks for (or downloads) a browser. Each test saves screenshots into its
tmp folder (docs/view.png in the README is one of them).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.view.conftest import FALSE_SUCCESS_ID, HANDMADE_ID, HTML_OUTPUT, serving, synthetic

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-dev-shm-usage", "--window-size=1400,1000"]


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail("headless Chromium is missing: `apt-get install -y chromium chromium-driver` (scripts/run.sh setup does it)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SE_OFFLINE", "true")  # Selenium Manager: never fetch a driver or a browser
        driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def wait(driver, condition, timeout: float = 20):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition)


def css(driver, selector: str):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def shoot(driver, path: Path, full: bool = False) -> Path:
    if full:
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1400, min(max(height, 600), 6000))
    driver.save_screenshot(str(path))
    driver.set_window_size(1400, 1000)
    assert path.stat().st_size > 10_000
    return path


def filter_failed_and_open(driver, trajectories, open_id: str | None = None):
    """List -> tick 'with failed tool calls' -> the count matches -> open a trajectory."""
    want = sum(t.stats.failed_calls > 0 for t in trajectories)
    wait(driver, lambda d: css(d, "#matched") and css(d, "#matched")[0].text == str(len(trajectories)))
    assert "false successes" in css(driver, "#counts")[0].text
    css(driver, "#f-failed")[0].click()
    wait(driver, lambda d: css(d, "#matched") and css(d, "#matched")[0].text == str(want))
    rows = css(driver, "tr.row")
    assert len(rows) == want and all(int(r.find_element("css selector", ".failed-calls").text.split()[0]) > 0 for r in rows)
    link = [a for a in css(driver, "a.open") if a.text == (open_id or a.text)][0]
    opened = link.text
    link.click()
    wait(driver, lambda d: css(d, "article.trajectory"))
    return opened


def check_failed_call_visible(driver, t):
    failed = [e for e in t.executions if e.is_error]
    shown = css(driver, ".msg.tool.failed")
    assert len(shown) == len(failed) and failed
    first = shown[0]
    assert first.is_displayed()
    assert f"exit {failed[0].exit_code}" in first.find_element("css selector", ".exit").text
    assert "failed" in first.text


def test_dataset_folder_in_a_browser(browser, dataset_folder, trajectories, tmp_path):
    by_id = {t.id: t for t in trajectories}
    with serving(dataset_folder) as server:
        browser.get(server.url)
        opened = filter_failed_and_open(browser, trajectories, open_id=HANDMADE_ID)
        t = by_id[opened]
        check_failed_call_visible(browser, t)
        # the recovery that followed the failure is shown as such
        assert "recovered by call #4" in css(browser, ".msg.tool.failed")[0].text
        assert "recovery of failed call #2" in css(browser, "#call-4")[0].text
        assert "1 simulator turn regenerated for role drift" in css(browser, "#drift")[0].text
        assert "1 user turn from a template" in css(browser, "#scripted")[0].text
        # tool output holding HTML shows as text: nothing of it became an element or ran
        pres = [p for p in css(browser, ".msg.tool pre") if "<script>" in p.text]
        assert pres and pres[0].text == HTML_OUTPUT
        assert browser.execute_script("return document.querySelectorAll('.conversation b, .conversation img, .conversation script').length") == 0
        assert "pwned" not in browser.title
        verification = css(browser, "#verification")[0].text
        assert "checks passed" in verification
        assert "Qwen3-32B" in browser.find_element("css selector", "body").text  # provenance
        shoot(browser, tmp_path / "trajectory.png", full=True)

        # a false success, from the list's verification filter
        browser.get(server.url + "#/?verification=false_success")
        wait(browser, lambda d: css(d, "a.open") and FALSE_SUCCESS_ID in [a.text for a in css(d, "a.open")])
        shoot(browser, tmp_path / "list.png")
        [a for a in css(browser, "a.open") if a.text == FALSE_SUCCESS_ID][0].click()
        wait(browser, lambda d: css(d, "#verification"))
        text = css(browser, "#verification")[0].text
        assert "checks failed" in text and "false success" in text
        assert "✗ fail" in css(browser, ".check.failed")[0].text and "exit 1" in css(browser, ".check.failed")[0].text
        css(browser, "#back")[0].click()
        wait(browser, lambda d: css(d, "#f-verification") and css(d, "#f-verification")[0].get_attribute("value") == "false_success")
    if os.environ.get("ISE_TRACE_VIEW_SCREENSHOT"):  # how docs/view.png was made
        shutil.copy(tmp_path / "trajectory.png", os.environ["ISE_TRACE_VIEW_SCREENSHOT"])


def test_run_folder_grows_on_reload(browser, tmp_path, trajectories):
    from tests.view.conftest import write_run

    run = write_run(tmp_path / "run", trajectories)
    with serving(run) as server:
        browser.get(server.url)
        wait(browser, lambda d: css(d, "#matched") and css(d, "#matched")[0].text == str(len(trajectories)))
        assert "run folder" in css(browser, "#source")[0].text
        late = synthetic(77)
        with (run / "trajectories.jsonl").open("a", encoding="utf-8") as f:
            f.write(late.model_dump_json() + "\n")
        browser.refresh()
        wait(browser, lambda d: css(d, "#matched") and css(d, "#matched")[0].text == str(len(trajectories) + 1))
        assert late.id in [a.text for a in css(browser, "a.open")]
        shoot(browser, tmp_path / "run-list.png")


def test_static_export_from_a_folder(browser, tmp_path, run_folder, trajectories):
    """--export opens from file:// with no server: filters, pages and trajectories all work."""
    from ise_trace.cli import main

    out = tmp_path / "site"
    assert main(["view", str(run_folder), "--export", str(out)]) == 0
    browser.get((out / "index.html").as_uri())
    opened = filter_failed_and_open(browser, trajectories)
    check_failed_call_visible(browser, {t.id: t for t in trajectories}[opened])
    assert "static export" in css(browser, "#source")[0].text
    shoot(browser, tmp_path / "static-trajectory.png")
