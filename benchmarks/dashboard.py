"""How long the dashboard makes people wait, measured in a real headless Chromium.

    EXPLAIN_MODELS_DIR=artifacts EXPLAIN_DATA_DIR=../shared/datasets \\
        .venv/bin/python -m benchmarks.dashboard --repeat 5

Starts ``streamlit run app.py`` on a free local port, opens the Explain page
for ``mnist_cnn``, warms the model up (one explanation of each method), then
measures, from the click on the test index's "+" button to the finished
panel: a Grad-CAM explanation of a new image, a LIME explanation of a new
image, and both methods on an image explained before (served from the cache).

The driver (:class:`Dashboard`, :func:`running_app`, :func:`chromium`) is
also what ``tests/integration/test_browser.py`` uses to click through the app.
"""
from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
CALM_MS = 600  # a run is over once the page stays idle this long (reruns can start a moment after a click)
MODEL_TIMEOUT_MS = 240_000  # first load of a model and its test split, on a busy two-core machine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_app(models_dir: Path, log: Path, data_dir: str | None = None, timeout: float = 120.0) -> Iterator[str]:
    """``streamlit run app.py`` on a free localhost port; yields its URL, stops it afterwards."""
    port = free_port()
    env = {**os.environ, "EXPLAIN_MODELS_DIR": str(models_dir), "TF_CPP_MIN_LOG_LEVEL": "3"}
    if data_dir:
        env["EXPLAIN_DATA_DIR"] = data_dir
    command = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
               "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
               "--server.fileWatcherType", "none"]
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as output:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_healthy(url, server, timeout, log)
            yield url
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()


def _wait_healthy(url: str, server: subprocess.Popen, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"streamlit exited with status {server.returncode}; see {log}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"streamlit did not answer within {timeout:.0f} s; see {log}")


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (never a downloaded browser: the machines are offline)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Dashboard:
    """One browser tab on the app, with the few gestures the tests and the benchmark need."""

    def __init__(self, browser: Any, url: str) -> None:
        self.page = browser.new_page(viewport={"width": 1400, "height": 2400})
        self.url = url

    def open(self) -> "Dashboard":
        self.page.goto(self.url)
        self.page.wait_for_selector("h1", timeout=MODEL_TIMEOUT_MS)
        self.settle()
        return self

    def settle(self, timeout_ms: int = MODEL_TIMEOUT_MS) -> float:
        """Wait until the script run is over and the page has stayed calm (no running indicator, no
        stale greyed-out elements) for ``CALM_MS``; returns when calm began, in the page's milliseconds."""
        self.page.evaluate("window.__calmSince = null")
        handle = self.page.wait_for_function(
            """(calm) => {
                const busy = document.querySelector('[data-testid="stStatusWidgetRunningIcon"]')
                             || document.querySelector('[data-stale="true"]');
                const now = performance.now();
                if (busy) { window.__calmSince = null; return false; }
                if (window.__calmSince === null) window.__calmSince = now;
                return now - window.__calmSince >= calm ? window.__calmSince : false;
            }""", arg=CALM_MS, timeout=timeout_ms, polling=25)
        return float(handle.json_value())

    def choose_model(self, name: str) -> None:
        self.page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first.click()
        self.page.get_by_role("option", name=name, exact=True).click()
        self.page.wait_for_timeout(300)
        self.settle()

    def go(self, title: str) -> None:
        self.page.get_by_role("link", name=title).click()
        self.page.wait_for_selector(f"h1:has-text('{title}')", timeout=MODEL_TIMEOUT_MS)
        self.settle()

    def choose_input(self, label: str) -> None:
        self.page.get_by_text(label, exact=True).click()
        self.page.wait_for_timeout(300)
        self.settle()

    def methods(self, wanted: list[str]) -> None:
        """Make ``wanted`` the selected methods (removing the others)."""
        box = self.page.locator('[data-testid="stMultiSelect"]').first
        box.wait_for(timeout=MODEL_TIMEOUT_MS)

        def chosen() -> list[str]:
            return [t.get_attribute("aria-label") or "" for t in box.locator("[data-tag]").all()]

        for name in chosen():
            if name not in wanted:
                box.get_by_role("button", name=f"Remove {name}").click()
                self.settle()
        for name in wanted:
            if name not in chosen():
                box.get_by_role("combobox").click()
                self.page.get_by_role("option", name=name, exact=True).click()
                self.page.keyboard.press("Escape")
                self.settle()
        if sorted(chosen()) != sorted(wanted):
            raise AssertionError(f"could not select {wanted}; the page shows {chosen()}")

    def step(self, delta: int, methods: list[str]) -> float:
        """Click the test index's + (or -) and wait for the new input's panels.

        Returns the seconds from the click to the moment the page became calm with
        every panel drawn (the calm window itself is not counted).
        """
        target = self.test_index() + delta
        clicked = float(self.page.evaluate("performance.now()"))
        self.page.get_by_role("button", name="Increment" if delta > 0 else "Decrement").first.click()
        self.page.get_by_text(f"test image #{target}", exact=True).wait_for(timeout=MODEL_TIMEOUT_MS)
        return (self.wait_for_panels(methods) - clicked) / 1000.0

    def wait_for_panels(self, methods: list[str], timeout_ms: int = MODEL_TIMEOUT_MS) -> float:
        """Every method's panel drawn (its heading and its scores) and the run finished; returns when."""
        calm = self.settle(timeout_ms)
        for method in methods:
            self.page.get_by_role("heading", name=method, exact=True).wait_for(timeout=timeout_ms)
        metric_labels = self.page.locator('[data-testid="stMetricLabel"]').all_inner_texts()
        missing = len(methods) - sum("Deletion AUC" in label for label in metric_labels)
        if missing:
            raise AssertionError(f"{missing} of {methods} show no faithfulness score; labels: {metric_labels}")
        return calm

    def test_index(self) -> int:
        caption = self.page.get_by_text(re.compile(r"^test image #\d+$")).first.inner_text()
        return int(caption.split("#")[1])

    def shot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path), full_page=True)
        return path


def measure(models_dir: Path, repeat: int, artifacts: Path) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"gradcam, new image": [], "lime_image, new image": [],
                                     "gradcam + lime_image, image explained before": []}
    with running_app(models_dir, artifacts / "benchmark-streamlit.log") as url, chromium() as browser:
        app = Dashboard(browser, url).open()
        app.choose_model("mnist_cnn")
        app.go("Explain")
        app.wait_for_panels(["gradcam", "lime_image"])  # warm: model loaded, functions traced, test split scored
        for method in ("gradcam", "lime_image"):
            app.methods([method])
            for _ in range(repeat):
                times[f"{method}, new image"].append(app.step(+1, [method]))
        both = ["gradcam", "lime_image"]
        app.methods(both)
        app.wait_for_panels(both)
        app.step(+1, both)  # this image and the one before are now explained with both methods
        for _ in range(repeat):
            times["gradcam + lime_image, image explained before"].append(app.step(-1, both))
            app.step(+1, both)
        app.shot(artifacts / "benchmark-dashboard.png")
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="clicks timed per case (default 5)")
    parser.add_argument("--models-dir", default=os.environ.get("EXPLAIN_MODELS_DIR", "artifacts"))
    parser.add_argument("--artifacts", default=str(ROOT / "test-artifacts"), help="screenshot and server log folder")
    args = parser.parse_args(argv)
    times = measure(Path(args.models_dir), args.repeat, Path(args.artifacts))
    print("\n| case (mnist_cnn, warm model) | median s | min s | max s | clicks |\n| --- | --- | --- | --- | --- |")
    for case, values in times.items():
        print(f"| {case} | {statistics.median(values):.2f} | {min(values):.2f} | {max(values):.2f} | {len(values)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
