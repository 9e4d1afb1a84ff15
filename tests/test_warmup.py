"""The background warm-up: every model-agnostic method runs once per modality on stand-in models, a failure stays
quiet, the thread starts once per process, and the dashboard starts it only when the setting allows."""
from __future__ import annotations

import numpy as np
import pytest

from explain import activity, registry, settings, warmup


def test_warm_up_runs_every_model_agnostic_method_for_each_modality_it_explains() -> None:
    spent = warmup.warm_up()
    expected = {f"{name}/{predictor.modality}" for predictor, _ in warmup._stand_ins()
                for name in registry.available(predictor)}
    assert set(spent) == expected | {"(import keras)"}
    assert {"partition_shap/image", "exact_shap/tabular", "lime_text/text"} <= expected
    assert all(seconds >= 0 for seconds in spent.values())


def test_the_thread_starts_once_and_a_failing_warm_up_stays_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def failing(methods):
        calls.append(methods)
        raise RuntimeError("no numba here")

    monkeypatch.setattr(warmup, "warm_up", failing)
    monkeypatch.setattr(warmup, "_started", None)
    first = warmup.start_warm_up(["exact_shap"])
    assert warmup.start_warm_up() is first
    first.join(timeout=10)
    assert calls == [["exact_shap"]] and not first.is_alive()


def test_the_warm_up_waits_while_a_users_request_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    import explain

    done: list[dict[str, float]] = []
    predictor, x = warmup._stand_ins()[2]
    with activity.request_running():
        thread = threading.Thread(target=lambda: done.append(warmup.warm_up(["occlusion"])))
        thread.start()
        thread.join(timeout=2.0)
        assert thread.is_alive() and not done  # held back at its first step while the request runs
        explain.explain(predictor, x, "occlusion")  # a nested request (the pipeline marks its own) changes nothing
        assert thread.is_alive()
    thread.join(timeout=30)
    assert not thread.is_alive() and {"(import keras)", "occlusion/tabular"} <= set(done[0])
    warmup.warm_up(["occlusion"])  # its own requests do not make it wait for itself (this would hang otherwise)


@pytest.mark.parametrize("value, enabled", [("0", False), ("off", False), ("1", True), ("", True)])
def test_the_setting_turns_it_off(monkeypatch: pytest.MonkeyPatch, value: str, enabled: bool) -> None:
    monkeypatch.setenv(settings.WARM_UP_ENV, value)
    assert settings.warm_up_enabled() is enabled


# ---- a model's own warm-up --------------------------------------------------------------------------
def test_a_models_warm_up_traces_it_once_so_later_calls_reuse_the_traces() -> None:
    import explain
    from explain import gradients, layers
    from zoo import image_functional

    model = image_functional()
    predictor = explain.as_predictor(model, background=np.zeros((4, 12, 12)))
    assert "deep_shap" in registry.available(predictor) and registry.get("deep_shap").process_global
    spent = warmup.warm_up_model(predictor, ["gradcam", "saliency", "integrated_gradients", "deep_shap"])
    assert set(spent) == {"gradcam", "saliency", "integrated_gradients"}  # never Deep SHAP beside users' requests
    traced = {**gradients._COMPILED[model], **layers._COMPILED[model]}
    assert traced and all(fn.experimental_get_tracing_count() == 1 for fn in traced.values())
    explain.explain(predictor, np.full((12, 12), 200.0), "gradcam")
    explain.explain(explain.as_predictor(model), np.zeros((12, 12)), "saliency")  # a new predictor, the same model
    assert all(fn.experimental_get_tracing_count() == 1 for fn in traced.values())  # no new trace


def test_a_models_warm_up_skips_what_refuses_the_probe_and_runs_once_per_model(monkeypatch: pytest.MonkeyPatch) -> None:
    import explain
    from explain import api
    from zoo import image_functional

    predictor = explain.as_predictor(image_functional())
    original = api.explain

    def refusing_lime(model, x, method, *args, **kwargs):
        if method == "lime_image":
            raise ValueError("not for this probe")
        return original(model, x, method, *args, **kwargs)

    monkeypatch.setattr(api, "explain", refusing_lime)
    spent = warmup.warm_up_model(predictor, ["lime_image", "cam"])
    assert set(spent) == {"cam"}
    runs = []
    monkeypatch.setattr(warmup, "warm_up_model", lambda p, methods=None: runs.append(p))
    first = warmup.start_model_warm_up(predictor)
    assert first is not None and warmup.start_model_warm_up(explain.as_predictor(predictor.keras_model)) is first
    first.join(timeout=10)
    assert runs == [predictor]
    plain = explain.as_predictor(lambda x: np.ones((len(x), 2)) / 2, modality="tabular", class_names=["a", "b"])
    assert warmup.start_model_warm_up(plain) is None  # a plain function: nothing to trace
