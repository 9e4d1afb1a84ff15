"""The background warm-up: every model-agnostic method runs once per modality on stand-in models, a failure stays
quiet, the thread starts once per process, and the dashboard starts it only when the setting allows."""
from __future__ import annotations

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
