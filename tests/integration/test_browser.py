"""The dashboard in a real headless Chromium, on the real reference models.

Starts ``streamlit run app.py`` on a free localhost port with the models the
``real_models`` fixture trained, then clicks through it as a person would:
the MNIST CNN with Grad-CAM and LIME on a test image, an IMDB review, and a
housing row with a what-if edit.  Screenshots go to ``test-artifacts/``.
Without Chromium the tests are skipped, except in CI, where that is a failure.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterator

import pytest

from benchmarks.dashboard import CHROMIUM, Dashboard, chromium, running_app

pytestmark = [pytest.mark.integration, pytest.mark.browser]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="module")
def app_models_dir(real_models: tuple[Path, dict]) -> Path:
    return real_models[0]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    missing = None if Path(CHROMIUM).exists() else f"{CHROMIUM} is not installed (apt-get install chromium)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing = "the playwright package is not installed (pip install -e '.[dev]')"
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests must run in CI: {missing}")
        pytest.skip(missing)
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def app_url(browser: object, app_models_dir: Path) -> Iterator[str]:  # no training when skipped
    with running_app(app_models_dir, ARTIFACTS / "browser-streamlit.log") as url:
        yield url


@pytest.fixture
def dashboard(browser: object, app_url: str) -> Iterator[Dashboard]:
    app = Dashboard(browser, app_url).open()
    yield app
    app.page.close()


def images_loaded(app: Dashboard) -> int:
    """How many images in the main area have really loaded (decoded, with a size)."""
    return app.page.evaluate(
        """() => [...document.querySelectorAll('[data-testid="stMain"] [data-testid="stImage"] img')]
                 .filter(img => img.complete && img.naturalWidth > 0).length""")


def scores(app: Dashboard) -> dict[str, list[str]]:
    """Metric label -> the values shown under it, in page order."""
    found: dict[str, list[str]] = {}
    for metric in app.page.locator('[data-testid="stMetric"]').all():
        label = metric.locator('[data-testid="stMetricLabel"]').inner_text().strip()
        found.setdefault(label, []).append(metric.locator('[data-testid="stMetricValue"]').inner_text().strip())
    return found


def no_errors(app: Dashboard) -> None:
    assert app.page.locator('[data-testid="stException"]').count() == 0
    assert app.page.locator('[data-testid="stAlertContentError"]').count() == 0


def explain_first_test_input(app: Dashboard, model: str, methods: list[str]) -> None:
    """Pick the model, open the Explain page, ask for ``methods`` and wait for their panels."""
    app.choose_model(model)
    assert app.page.get_by_text(re.compile("^Test (accuracy|MAE)$")).count() == 1  # its model card came first
    app.go("Explain")
    app.methods(methods)
    app.wait_for_panels(methods)
    no_errors(app)


def test_mnist_cnn_gradcam_and_lime_on_a_test_image(dashboard: Dashboard) -> None:
    explain_first_test_input(dashboard, "mnist_cnn", ["gradcam", "lime_image"])
    assert dashboard.test_index() == 0
    assert images_loaded(dashboard) == 3  # the digit, and one heatmap per method
    shown = scores(dashboard)
    assert len(shown["Runtime"]) == 2 and all(v.endswith(" s") for v in shown["Runtime"])
    assert len(shown["Deletion AUC"]) == 2 and all(re.fullmatch(r"[\d.e+-]+", v) for v in shown["Deletion AUC"])
    assert dashboard.page.get_by_text("Do the methods agree?").count() == 1
    dashboard.step(+1, ["gradcam", "lime_image"])  # another test image: explained in turn
    assert dashboard.test_index() == 1 and images_loaded(dashboard) == 3
    dashboard.shot(ARTIFACTS / "browser-mnist_cnn.png")


def test_imdb_review_tokens_are_highlighted(dashboard: Dashboard) -> None:
    explain_first_test_input(dashboard, "imdb_cnn", ["gradcam", "lime_text"])
    dashboard.choose_input("Type a review")
    review = dashboard.page.get_by_label("Your review")
    review.fill("A wonderful, moving film with superb acting. I loved every minute of it.")
    review.press("Control+Enter")
    dashboard.page.locator('[data-testid="stHtml"] span[title]', has_text="loved").first.wait_for(timeout=120_000)
    dashboard.wait_for_panels(["gradcam", "lime_text"])
    no_errors(dashboard)
    highlighted = dashboard.page.locator('[data-testid="stHtml"] span[title]')
    assert highlighted.count() >= 2 * 10  # every token the model reads, in both panels
    assert "wonderful" in highlighted.all_inner_texts()
    assert dashboard.page.get_by_text("raises the score").count() == 2  # each panel's legend
    assert len(scores(dashboard)["Deletion AUC"]) == 2
    dashboard.shot(ARTIFACTS / "browser-imdb_cnn.png")


def test_housing_row_and_a_what_if_edit(dashboard: Dashboard) -> None:
    explain_first_test_input(dashboard, "housing_mlp", ["kernel_shap", "lime_tabular"])
    before = scores(dashboard)
    assert "True value" in before and images_loaded(dashboard) == 4  # bars and waterfall, per method
    income = dashboard.page.get_by_label("median_income")
    income.fill("12")
    income.press("Enter")
    dashboard.page.get_by_text(re.compile(r"^Changed: median_income")).wait_for(timeout=60_000)
    dashboard.wait_for_panels(["kernel_shap", "lime_tabular"])
    after = scores(dashboard)
    assert after["Predicted"] != before["Predicted"] and "True value" not in after
    dashboard.shot(ARTIFACTS / "browser-housing_mlp.png")
