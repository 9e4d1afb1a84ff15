"""Explanation reports: the HTML and PDF say what they must (checked by content), and fail cleanly.

Reports are built once per modality (module fixtures) on the tiny zoo models.
The HTML is parsed with BeautifulSoup, the PDF read back with pypdf.
"""
from __future__ import annotations

import base64
import io
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("bs4")
pytest.importorskip("pypdf")

import zoo  # noqa: E402
from bs4 import BeautifulSoup  # noqa: E402
from pypdf import PdfReader  # noqa: E402

import explain  # noqa: E402
from explain import metrics, report  # noqa: E402
from explain.cli import main  # noqa: E402
from explain.cli.inputs import parse_indices as _parse_indices  # noqa: E402
from explain.store import array_hash  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CARD = {
    "name": "tiny_digits", "description": "a 12x12 test CNN", "task": "classification",
    "dataset": {"name": "synthetic-digits", "source": "/data/synthetic.npz", "fingerprint": "sha256:feedc0ffee",
                "sizes": {"train": 90, "validation": 10, "test": 30}},
    "metrics": {"test": {"accuracy": 0.8125, "n": 30, "confusion_matrix": [[1]]}},
    "architecture": {"parameters": 4321}, "training": {"seconds": 12.5, "epochs_run": 3, "seed": 77},
    "class_names": ["zero", "one", "two"], "model_file": {"name": "tiny.keras", "sha256": "sha256:abc123model"},
}


def fmt(value: float) -> str:
    """How the report prints a score (4 significant digits)."""
    return f"{value:.4g}"


def soup_of(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


def pdf_text(data: bytes) -> tuple[str, PdfReader]:
    reader = PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages), reader


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


# ---- fixtures: one set of explanations per modality ----------------------------------------------
@pytest.fixture(scope="module")
def image_case():
    model = zoo.image_functional()
    x = np.random.default_rng(3).integers(0, 256, size=(2, 12, 12)).astype(np.float32)
    grad = explain.explain_batch(model, x, "gradcam")
    lime = explain.explain_batch(model, x, "lime_image", num_samples=60, seed=4)
    explanations = [grad[0], lime[1], lime[0], grad[1]]  # interleaved: the report must regroup them by input
    html = report.build_html(explanations, model=model, card=CARD, true_labels=[2, 0], title="Digits <b>audit</b>",
                             inputs_source="synthetic test split")
    pdf = report.build_pdf(explanations, model=model, card=CARD, true_labels=[2, 0], title="Digits report")
    expected = metrics.score_explanations(model, grad + lime)  # what the report must have computed
    return {"model": model, "x": x, "grad": grad, "lime": lime, "html": html, "pdf": pdf, "scored": expected}


@pytest.fixture(scope="module")
def text_case():
    model = zoo.text_model()
    review = "a great and wonderful film <script>alert('x')</script>"
    explanations = [explain.explain(model, review, m, scores=True, **p)
                    for m, p in (("lime_text", {"num_samples": 80}), ("gradcam", {}))]
    return {"explanations": explanations, "review": review,
            "html": report.build_html(explanations, title="Reviews"), "pdf": report.build_pdf(explanations, title="Reviews")}


@pytest.fixture(scope="module")
def tabular_case():
    predictor = explain.Predictor(zoo.tabular_classifier(), feature_names=["age", "income", "rooms", "distance"],
                                  class_names=["low", "mid", "high"], background=zoo.tabular_data(40, seed=5))
    rows = zoo.tabular_data(2, seed=9)
    explanations = (explain.explain_batch(predictor, rows, "kernel_shap", nsamples=200, scores=True)
                    + explain.explain_batch(predictor, rows, "lime_tabular", num_samples=300, scores=True))
    return {"explanations": explanations, "rows": rows, "html": report.build_html(explanations, model=predictor),
            "pdf": report.build_pdf(explanations, model=predictor)}


# ---- HTML ----------------------------------------------------------------------------------------
def test_html_has_one_section_per_input_with_every_method(image_case) -> None:
    soup = soup_of(image_case["html"])
    sections = soup.select("section.input")
    assert [s.h2.get_text() for s in sections] == ["Input 1", "Input 2"]
    for section in sections:
        assert [h.get_text() for h in section.select(".method h3")] == ["gradcam", "lime_image"]
    assert "true label two" in sections[0].select_one(".verdict").get_text()  # labels in order of first appearance
    assert "true label zero" in sections[1].select_one(".verdict").get_text()


def test_html_images_are_inline_pngs_with_alt_text(image_case) -> None:
    soup = soup_of(image_case["html"])
    for section in soup.select("section.input"):
        images = section.find_all("img")
        assert len(images) == 3  # the input and two attribution maps
        for img in images:
            assert img["src"].startswith("data:image/png;base64,") and img.get("alt")
            assert base64.b64decode(img["src"].split(",", 1)[1]).startswith(PNG_MAGIC)


def test_html_references_nothing_outside_the_file(image_case) -> None:
    html = image_case["html"]
    soup = soup_of(html)
    assert not soup.find_all(["script", "link", "iframe", "object", "embed"])
    assert all(tag["src"].startswith("data:") for tag in soup.find_all(src=True))
    assert all(tag["href"].startswith("#") for tag in soup.find_all(href=True))
    assert "url(" not in html and "@import" not in html and "http://" not in html and "https://" not in html


def test_html_shows_the_scores_the_report_computed(image_case) -> None:
    """Input 1's table shows the scores of both methods' explanations of image 0 (so they were grouped right)."""
    soup = soup_of(image_case["html"])
    first = soup.select("section.input")[0]
    table = next(f for f in first.select("figure.table") if f.figcaption.get_text() == "Faithfulness")
    rows = {tr.find_all("td")[0].get_text(): [td.get_text() for td in tr.find_all("td")] for tr in table.tbody.find_all("tr")}
    by_method = {e.method: e for e in image_case["scored"] if np.array_equal(e.data, image_case["x"][0])}
    assert set(by_method) == {"gradcam", "lime_image"}
    for method, scored in by_method.items():
        assert rows[method][1] == fmt(scored.scores["deletion_auc"])
        assert rows[method][3] == fmt(scored.scores["deletion_gain"])


def test_html_shows_each_badge_in_words_with_its_numbers_one_click_away(image_case) -> None:
    """The report computes the badge it lacked; the words match explain.metrics.badge and the details its figures."""
    soup = soup_of(image_case["html"])
    first = soup.select("section.input")[0]
    table = next(f for f in first.select("figure.table") if f.figcaption.get_text() == "Faithfulness")
    assert [th.get_text() for th in table.thead.find_all("th")][4] == "badge"
    rows = {tr.find_all("td")[0].get_text(): [td.get_text() for td in tr.find_all("td")] for tr in table.tbody.find_all("tr")}
    mine = [e for e in image_case["grad"] + image_case["lime"] if np.array_equal(e.data, image_case["x"][0])]
    expected = {e.method: b for e, b in zip(mine, metrics.badge(image_case["model"], mine))}
    assert {m: r[4] for m, r in rows.items()} == {m: b.words for m, b in expected.items()}
    details = first.select_one("details.badge-details")
    assert details.summary.get_text() == "The badge's numbers"
    cells = [[td.get_text() for td in tr.find_all("td")] for tr in details.tbody.find_all("tr")]
    gradcam = {r[1]: r for r in cells if r[0] == "gradcam"}
    assert set(gradcam) == {"deletion", "road_morf", "road_lerf"} and gradcam["road_lerf"][2] == "shown only"
    figures = {m.metric: m for m in expected["gradcam"].metrics}
    assert gradcam["deletion"][3] == fmt(figures["deletion"].auc)
    assert gradcam["road_morf"][4] == f"{fmt(figures['road_morf'].random_min)} .. {fmt(figures['road_morf'].random_max)}"
    howto = dict(zip((dt.get_text() for dt in soup.select("#how-to-read dt")), (dd.get_text() for dd in soup.select("#how-to-read dd"))))
    assert howto["The faithfulness badge"] == expected["gradcam"].how_to_read()


def test_badge_can_be_left_out_and_is_not_recomputed_when_attached(image_case, monkeypatch: pytest.MonkeyPatch) -> None:
    from explain.evaluation import scoring

    plain = soup_of(report.build_html(image_case["grad"], model=image_case["model"], badge=False))
    assert "The badge's numbers" not in plain.get_text() and "better than random?" in plain.get_text()
    badged = metrics.score_explanations(image_case["model"], image_case["grad"], metrics=["deletion", "badge"])
    monkeypatch.setattr(scoring, "badge_scores", lambda *a, **k: pytest.fail("an attached badge was recomputed"))
    html = report.build_html(badged, model=image_case["model"])
    assert metrics.badge(image_case["model"], image_case["grad"])[0].words in html


def test_html_agreement_table_matches_metrics_agreement(image_case) -> None:
    soup = soup_of(image_case["html"])
    table = next(f for f in soup.select("section.input")[1].select("figure.table")
                 if f.figcaption.get_text() == "Agreement between methods")
    cells = [td.get_text() for td in table.tbody.tr.find_all("td")]
    expected = metrics.agreement([image_case["grad"][1], image_case["lime"][1]]).iloc[0]
    assert cells[:2] == ["gradcam", "lime_image"]
    assert cells[2] == fmt(expected["spearman_abs"]) and cells[3] == fmt(expected["spearman"])


def test_html_summarises_the_model_card(image_case) -> None:
    text = flat(soup_of(image_case["html"]).select_one("#model").get_text(" "))
    for fact in ("tiny_digits", "synthetic-digits", "accuracy 0.8125", "4,321", "12.5 s"):
        assert fact in text
    assert "confusion" not in text  # a matrix is not a summary


def test_html_prediction_uses_class_names_and_marks_truth(image_case) -> None:
    section = soup_of(image_case["html"]).select("section.input")[0]
    rows = {tr.find_all("td")[0].get_text(): tr.find_all("td")[2].get_text() for tr in section.select(".card table tbody tr")}
    assert set(rows) == {"zero", "one", "two"}
    assert "true label" in rows["two"]
    predicted = CARD["class_names"][int(np.argmax(image_case["grad"][0].prediction))]
    assert "explained" in rows[predicted]


def test_html_provenance_lets_a_reader_reproduce(image_case) -> None:
    text = flat(soup_of(image_case["html"]).select_one("#provenance").get_text(" "))
    first = image_case["grad"][0]
    assert first.meta["model"]["fingerprint"] in text
    assert array_hash(image_case["x"][0]) in text and array_hash(image_case["x"][1]) in text  # the store's input keys
    assert "num_samples=60" in text and "seed=4" in text  # lime's parameters, seed included
    assert f"tensorflow {first.meta['library_versions']['tensorflow']}" in text
    assert "/data/synthetic.npz" in text and "sha256:feedc0ffee" in text and "sha256:abc123model" in text
    assert "synthetic test split" in text
    assert "4 of 4 computed for this report" in text  # none came scored, the model was given


def test_scores_that_came_with_the_explanations_are_used_as_they_are(text_case) -> None:
    text = flat(soup_of(text_case["html"]).select_one("#provenance").get_text(" "))
    assert "as attached to the explanations" in text and "computed for this report" not in text
    section = soup_of(text_case["html"]).select_one("section.input").get_text(" ")
    assert fmt(text_case["explanations"][0].scores["deletion_auc"]) in section


def test_html_explains_how_to_read_each_figure(image_case, text_case) -> None:
    image_text = soup_of(image_case["html"]).select_one("#how-to-read").get_text()
    assert explain.render.HOW_TO_READ["image"] in image_text and explain.render.HOW_TO_READ["text"] not in image_text
    assert explain.render.HOW_TO_READ["text"] in soup_of(text_case["html"]).select_one("#how-to-read").get_text()


def test_html_escapes_user_text(image_case, text_case) -> None:
    soup = soup_of(image_case["html"])
    assert soup.title.get_text() == "Digits <b>audit</b>" and not soup.find("b")
    text_soup = soup_of(text_case["html"])
    assert not text_soup.find("script")
    assert text_case["review"] in text_soup.select_one(".text-input").get_text()


def test_html_text_report_colours_every_token(text_case) -> None:
    section = soup_of(text_case["html"]).select_one("section.input")
    tokens = list(text_case["explanations"][0].labels)
    for card in section.select(".method"):
        spans = card.select(".tokens span")
        assert [s.get_text() for s in spans] == tokens
        assert any("rgba(214,96,77" in s["style"] for s in spans)  # something raises the score, in red


def test_html_tabular_report_shows_features_and_waterfall(tabular_case) -> None:
    section = soup_of(tabular_case["html"]).select("section.input")[1]
    input_rows = {tr.th.get_text() if tr.th else tr.td.get_text(): tr.find_all("td")[-1].get_text()
                  for tr in section.select_one(".card table").tbody.find_all("tr")}
    assert input_rows["income"] == fmt(float(tabular_case["rows"][1][1]))
    images = {card.h3.get_text(): len(card.find_all("img")) for card in section.select(".method")}
    assert images == {"kernel_shap": 2, "lime_tabular": 2}  # bar chart and waterfall (both have a base value)
    faithfulness = section.get_text()
    assert "additivity error" in faithfulness


# ---- PDF ----------------------------------------------------------------------------------------
def test_pdf_holds_titles_methods_scores_and_provenance(image_case) -> None:
    text, reader = pdf_text(image_case["pdf"])
    assert reader.metadata.title == "Digits report"
    assert len(reader.pages) >= 3  # an overview, at least a page per input, the appendix
    for needle in ("Digits report", "How to read this report", "Input 1", "Input 2", "gradcam", "lime_image",
                   "Faithfulness", "Agreement between methods", "Appendix: provenance", "synthetic-digits"):
        assert needle in text, needle
    compact = text.replace("\n", " ")
    for scored in image_case["scored"]:
        assert fmt(scored.scores["deletion_auc"]) in compact
    assert image_case["grad"][0].meta["model"]["fingerprint"] in compact.replace(" ", "")
    assert "num_samples=60" in compact
    assert "The badge's numbers" in compact and "The faithfulness badge" in compact  # on paper: a table, not a click
    words = metrics.badge(image_case["model"], image_case["grad"][:1])[0].words
    assert flat(words) in flat(text)


def test_pdf_embeds_one_image_per_figure(image_case) -> None:
    _, reader = pdf_text(image_case["pdf"])
    images = [image for page in reader.pages for image in page.images]
    assert len(images) == 6  # two inputs x (input + gradcam + lime_image)


def test_pdf_text_and_tabular_reports(text_case, tabular_case) -> None:
    text, _ = pdf_text(text_case["pdf"])
    assert "lime_text" in text and "Input text" in text and "wonderful" in text
    assert explain.render.HOW_TO_READ["text"][:40] in flat(text)
    tab_text, reader = pdf_text(tabular_case["pdf"])
    assert "kernel_shap" in tab_text and "lime_tabular" in tab_text and "income" in tab_text
    assert len([i for page in reader.pages for i in page.images]) == 8  # 2 inputs x 2 methods x (bars + waterfall)


# ---- writing files -------------------------------------------------------------------------------
def test_write_report_picks_the_format_from_the_suffix(tmp_path: Path, text_case) -> None:
    explanations = text_case["explanations"]
    html_path = explain.write_report(tmp_path / "r.html", explanations)  # exported by the package too
    pdf_path = report.write_report(tmp_path / "r.PDF", explanations)
    forced = report.write_report(tmp_path / "r.out", explanations, format="pdf")
    assert html_path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert pdf_path.read_bytes().startswith(b"%PDF") and forced.read_bytes().startswith(b"%PDF")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.PDF", "r.html", "r.out"]  # no temporary files left


def test_a_failed_write_keeps_the_previous_report(tmp_path: Path, text_case, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "report.html"
    target.write_text("previous report", encoding="utf-8")

    def broken_disk(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_disk)
    with pytest.raises(OSError, match="disk full"):
        report.write_report(target, text_case["explanations"])
    assert target.read_text(encoding="utf-8") == "previous report"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_a_failed_render_keeps_the_previous_report(tmp_path: Path, text_case, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "report.pdf"
    target.write_bytes(b"%PDF old")
    monkeypatch.setattr(report, "to_pdf", lambda _: (_ for _ in ()).throw(RuntimeError("layout failed")))
    with pytest.raises(RuntimeError):
        report.write_report(target, text_case["explanations"])
    assert target.read_bytes() == b"%PDF old"


# ---- bad input -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"explanations": []}, ValueError, "Nothing to report"),
    ({"explanations": ["gradcam"]}, TypeError, "Explanation"),
    ({"explanations": "gradcam"}, TypeError, "list of explain.Explanation"),
    ({"card": "mnist"}, TypeError, "model card dict"),
    ({"true_labels": [1, 2, 3]}, ValueError, "3 true labels for 1 distinct inputs"),
    ({"title": "  "}, ValueError, "title is empty"),
    ({"title": 3}, TypeError, "title must be a string"),
    ({"audit": [1, 2]}, TypeError, "audit must be"),
])
def test_bad_arguments_say_what_to_do(text_case, kwargs: dict, error: type, message: str) -> None:
    arguments = {"explanations": text_case["explanations"], **kwargs}
    with pytest.raises(error, match=re.escape(message)):
        report.build_html(**arguments)


@pytest.mark.parametrize(("name", "fmt_", "message"), [
    ("report.docx", None, "use a .html or .pdf"),
    ("report.html", "xml", "Unknown report format 'xml'"),
    ("missing/report.html", None, "does not exist"),
])
def test_bad_destinations_fail_before_any_work(tmp_path: Path, name: str, fmt_: str | None, message: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report, "assemble", lambda *a, **k: pytest.fail("assembled a report it cannot write"))
    with pytest.raises(ValueError, match=re.escape(message)):
        report.write_report(tmp_path / name, [], format=fmt_)


def test_a_folder_is_not_a_report_path(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="is a folder"):
        report.write_report(tmp_path, [])


# ---- audits --------------------------------------------------------------------------------------
def test_audit_tables_appear_in_both_formats(text_case) -> None:
    frame = pd.DataFrame({"input": [0, 0, 1, 1], "method": ["gradcam", "lime_text"] * 2,
                          "deletion_gain": [0.125, 0.25, 0.5, 0.0625]})
    summary = {"by_method": frame.groupby("method")["deletion_gain"].agg(["mean", "count"])}
    html = report.build_html(audit=(frame, summary), title="Audit only")
    tables = {f.figcaption.get_text(): f for f in soup_of(html).select("#audit figure.table")}
    assert "By method" in tables
    rows = [[td.get_text() for td in tr.find_all("td")] for tr in tables["By method"].tbody.find_all("tr")]
    assert rows == [["gradcam", "0.3125", "2"], ["lime_text", "0.1562", "2"]]
    text, _ = pdf_text(report.build_pdf(audit=(frame, summary)))
    assert "By method" in text and "0.3125" in text and "0.1562" in text
    charts = soup_of(html).select("#audit img")
    assert len(charts) == 1 and base64.b64decode(charts[0]["src"].split(",", 1)[1]).startswith(PNG_MAGIC)  # gains per method


def test_a_real_audit_frame_is_summarised_by_the_report(zoo, images) -> None:
    frame = explain.audit(zoo["image_functional"], images, [0, 1, 2], methods=["gradcam", "cam"], store=None, progress=False)
    soup = soup_of(report.build_html(audit=frame))
    titles = [f.figcaption.get_text() for f in soup.select("#audit figure.table")]
    assert titles[0] == "Overview" and {"By class", "Top features", "Disagreement"} <= set(titles)
    overview = {tr.th.get_text(): tr.td.get_text() for tr in soup.select("#audit figure.table")[0].find_all("tr")}
    assert overview["inputs"] == "3" and overview["rows (input × method)"] == "6"
    assert overview["accuracy"] == fmt(float(frame.drop_duplicates("input")["correct"].mean()))
    assert len(soup.select("#audit img")) == 2  # deletion gains per method, and the most frequent top features


# ---- command line --------------------------------------------------------------------------------
def test_parse_indices() -> None:
    assert _parse_indices("0-3,7,2", 10) == [0, 1, 2, 3, 7]
    with pytest.raises(ValueError, match="out of range; there are 10 inputs"):
        _parse_indices("8-10", 10)
    for bad in ("0-x", "-1", "5-2", ""):
        with pytest.raises(ValueError, match="--indices"):
            _parse_indices(bad, 10)


@pytest.fixture(scope="module")
def user_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The zoo models saved as users' .keras files, with input files beside them."""
    folder = tmp_path_factory.mktemp("user")
    zoo.tabular_classifier().save(folder / "tabular.keras")
    zoo.text_model().save(folder / "text.keras")
    pd.DataFrame(zoo.tabular_data(6, seed=2), columns=["age", "income", "rooms", "distance"]).to_csv(folder / "rows.csv", index=False)
    (folder / "reviews.txt").write_text("a great film\n\nan awful boring movie\n", encoding="utf-8")
    return {"tabular": folder / "tabular.keras", "text": folder / "text.keras", "csv": folder / "rows.csv",
            "txt": folder / "reviews.txt"}


def test_cli_report_on_a_users_tabular_model(tmp_path: Path, user_models, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "rows.html"
    code = main(["report", "--model", str(user_models["tabular"]), "--input", str(user_models["csv"]), "--indices", "1,4",
                 "--methods", "lime_tabular", "--class-names", "low,mid,high", "--store", str(tmp_path / "s.sqlite"),
                 "-o", str(out)])
    assert code == 0
    with explain.ExplanationStore(tmp_path / "s.sqlite") as store:
        assert len(store) == 2  # the explanations were kept for the next report or audit
    err = capsys.readouterr().err
    assert "explaining 2 inputs with lime_tabular" in err and f"wrote {out}" in err
    soup = soup_of(out.read_text(encoding="utf-8"))
    assert len(soup.select("section.input")) == 2
    assert "income" in soup.select_one("section.input").get_text()  # feature names from the CSV header
    assert {td.get_text() for td in soup.select("section.input .card table tbody tr td:first-child")} >= {"low", "mid", "high"}
    assert "rows.csv, indices 1,4" in soup.select_one("#provenance").get_text()
    assert "better than random" in soup.get_text() and "The badge's numbers" in soup.get_text()  # scored by default


def test_cli_report_on_a_users_text_model_as_pdf(tmp_path: Path, user_models, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "reviews.pdf"
    assert main(["report", "--model", str(user_models["text"]), "--input", str(user_models["txt"]),
                 "--methods", "gradcam", "--no-scores", "-o", str(out)]) == 0
    text, _ = pdf_text(out.read_bytes())
    assert "Input 1" in text and "Input 2" in text and "Input 3" not in text  # the blank line is not a review
    assert "awful" in text and "Faithfulness" not in text


@pytest.mark.parametrize(("args", "message"), [
    (["--methods", "lime_image"], "lime_image cannot explain"),
    (["--methods", "nosuch"], "nosuch cannot explain"),
    (["--indices", "0-99"], "out of range"),
    (["--indices", "a-b"], "--indices"),
])
def test_cli_bad_arguments_are_one_line_errors(tmp_path: Path, user_models, capsys: pytest.CaptureFixture,
                                               args: list[str], message: str) -> None:
    base = ["report", "--model", str(user_models["tabular"]), "--input", str(user_models["csv"]), "-o", str(tmp_path / "r.html")]
    assert main(base + args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and message in err[-1] and "Traceback" not in "\n".join(err)
    assert not (tmp_path / "r.html").exists()


@pytest.mark.parametrize(("setup", "message"), [
    (lambda p, m: ["--model", str(m["tabular"]), "--input", str(p / "none.csv")], "no such file"),
    (lambda p, m: ["--model", str(m["tabular"]), "--input", str(m["txt"].with_suffix(".json"))], "no such file"),
    (lambda p, m: ["--model", str(m["tabular"]), "--input", str(_written(p / "x.json", "{}"))], "unsupported file type .json"),
    (lambda p, m: ["--model", str(m["tabular"]), "--input", str(_written(p / "bad.npy", "not numpy"))], "Cannot read --input"),
    (lambda p, m: ["--model", str(m["tabular"])], "--input FILE"),
    (lambda p, m: ["--model", "resnet50"], "neither a reference model"),
    (lambda p, m: ["--model", str(p / "missing.keras"), "--input", str(m["csv"])], "No model file"),
    (lambda p, m: ["--model", str(m["tabular"]), "--input", str(m["csv"]), "--format", "pdf", "-o", str(p / "no" / "r.pdf")],
     "does not exist"),
])
def test_cli_unreadable_inputs_are_one_line_errors(tmp_path: Path, user_models, capsys: pytest.CaptureFixture,
                                                   setup, message: str) -> None:
    args = setup(tmp_path, user_models)
    if "-o" not in args:
        args += ["-o", str(tmp_path / "r.html")]
    assert main(["report", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: ") and message in err


def _written(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_cli_report_on_a_reference_model(tmp_path: Path, tiny_data_dir: Path, capsys: pytest.CaptureFixture) -> None:
    """A trained reference model brings its card and its test split's labels."""
    models_dir = str(tmp_path / "models")
    assert main(["--models-dir", models_dir, "train", "mnist_dense", "--epochs", "1", "--data-dir", str(tiny_data_dir)]) == 0
    out = tmp_path / "digits.pdf"
    assert main(["--models-dir", models_dir, "report", "--model", "mnist_dense", "--indices", "3,7",
                 "--methods", "lime_image", "--data-dir", str(tiny_data_dir), "--no-badge", "-o", str(out)]) == 0
    text, _ = pdf_text(out.read_bytes())
    compact = flat(text)
    assert "Faithfulness" in text and "The badge's numbers" not in compact
    assert "true label 3" in compact and "true label 7" in compact  # write_mnist labels are i % 10
    assert "Model card" in text and "mnist" in text and "training seed" in compact
    assert "mnist test split, indices 3,7" in compact
