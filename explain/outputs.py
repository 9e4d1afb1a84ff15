"""What a model's outputs mean: the task, the scale of the numbers, and which column is explained.

A wrong guess here gives a wrong explanation with a plausible caption, which is
worse than a refusal.  So the meaning is inferred only where the model says so
for certain (a final softmax or sigmoid; a compiled loss with ``from_logits`` or
a regression loss) and asked for where it does not (a linear head of several
units is logits *or* several regression targets).  Whatever was decided is
recorded with how (``how``), so the doctor and the provenance can show it.

Binary problems come in three forms, all explained for the right class:
one sigmoid unit (column 0 is p(class 1)), one logit unit, or two columns
(softmax or a scikit-learn ``predict_proba``), where column ``c`` is class ``c``.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Sequence

import numpy as np

TASKS = ("multiclass", "binary", "regression")
SCALES = ("probability", "logit", "value")
# What users may pass as ``output=``: a task, or the scale of a classifier's numbers.
DECLARATIONS = ("probabilities", "logits", "regression", "multiclass", "binary")
_REGRESSION_LOSSES = ("mean_squared_error", "mse", "mean_absolute_error", "mae", "huber", "log_cosh",
                      "mean_squared_logarithmic_error", "mean_absolute_percentage_error")
_CLASSIFICATION_LOSSES = ("crossentropy", "hinge", "focal")


@dataclass(frozen=True)
class OutputSpec:
    """The meaning of a model's output columns.  ``width`` is ``None`` until a plain function is first called."""

    task: str
    scale: str
    width: int | None
    how: str  # how task and scale were decided: "declared", or what in the model showed them

    @property
    def n_classes(self) -> int | None:
        if self.task == "regression":
            return None
        return 2 if self.task == "binary" else self.width

    @property
    def n_targets(self) -> int:
        """Columns a regression model predicts (a target picks one when there are several)."""
        return self.width or 1

    def with_width(self, width: int) -> "OutputSpec":
        """The spec once the output width is seen; refuses a width that contradicts the declaration."""
        if self.width == width:
            return self
        if self.width is not None:
            raise ValueError(f"The model returned {width} output columns, but {self.width} were expected.")
        if self.task == "binary" and width not in (1, 2):
            raise ValueError(f"A binary model returns one column (p of class 1) or two (p of each class), got {width}.")
        return replace(self, width=width)

    def scores(self, outputs: np.ndarray, target: int | None) -> np.ndarray:
        """The explained quantity for ``target``, one value per row of model outputs."""
        outputs = np.asarray(outputs, dtype=np.float64).reshape(len(outputs), -1)
        if self.task == "regression":
            return outputs[:, 0 if target is None else int(target)]
        if self.task == "binary" and outputs.shape[1] == 1:
            column = outputs[:, 0]
            if target == 1:
                return column
            return -column if self.scale == "logit" else 1.0 - column
        return outputs[:, int(target or 0)]

    def class_scores(self, outputs: np.ndarray) -> np.ndarray:
        """One column per class (a single sigmoid or logit becomes two)."""
        outputs = np.asarray(outputs, dtype=np.float64).reshape(len(outputs), -1)
        if self.task == "binary" and outputs.shape[1] == 1:
            return np.column_stack([self.scores(outputs, 0), outputs[:, 0]])
        return outputs

    def default_target(self, row: np.ndarray) -> int | None:
        """The predicted class; ``None`` for a single regression target."""
        row = np.asarray(row, dtype=np.float64).ravel()
        if self.task == "regression":
            return None
        if self.task == "binary" and row.size == 1:
            return int(row[0] >= (0.0 if self.scale == "logit" else 0.5))
        return int(np.argmax(row))

    def label(self, target: int | None, name: str | None = None) -> str:
        """Words for the explained quantity, never calling a logit or a value a probability."""
        if self.task == "regression":
            return "model output" if target is None else f"model output {target}"
        who = f"class {name if name is not None else target}"
        if self.task == "binary" and (self.width or 1) == 1 and target == 0:
            return f"minus the logit of class 1 ({who})" if self.scale == "logit" else f"1 - probability of class 1 ({who})"
        return f"logit of {who}" if self.scale == "logit" else f"probability of {who}"

    @property
    def symbol(self) -> str:
        """The short name of a class score in captions: ``p`` or ``logit``."""
        return "logit" if self.scale == "logit" else "p"


def declared(output: str, width: int | None, class_names: Sequence[str] | None = None) -> OutputSpec:
    """The spec for an explicit ``output=``: a declaration always wins over inference."""
    if output not in DECLARATIONS:
        raise ValueError(f"output must be one of {', '.join(map(repr, DECLARATIONS))}, got {output!r}.")
    if output == "regression":
        return OutputSpec("regression", "value", width, "declared")
    if output in ("multiclass", "binary"):
        task = output
        scale = "probability"
    else:
        scale = "probability" if output == "probabilities" else "logit"
        n = width if width is not None else (len(class_names) if class_names else None)
        task = "binary" if n in (1, 2) else "multiclass"
    return OutputSpec(task, scale, width, "declared")


def for_function(output: str | None, class_names: Sequence[str] | None) -> OutputSpec:
    """A plain function says nothing about itself: class names make it a classifier, else regression."""
    if output is not None:
        return declared(output, None, class_names)
    if not class_names:
        return OutputSpec("regression", "value", None, "no class names given, so regression")
    task = "binary" if len(class_names) == 2 else "multiclass"
    width = None if task == "binary" else len(class_names)
    return OutputSpec(task, "probability", width, f"{len(class_names)} class names given, so {task} probabilities")


def infer(model: Any, output_layer: Any) -> OutputSpec:
    """The spec read off a Keras model: its final activation, else its compiled loss, else a refusal."""
    width = int(model.output_shape[-1] or 1)
    activation = _activation_name(output_layer)
    if activation in ("softmax", "sigmoid"):
        task = "binary" if width == 1 or (width == 2 and activation == "softmax") else "multiclass"
        if activation == "sigmoid" and width > 1:
            raise ValueError(
                f"The model ends in {width} sigmoid units (multi-label): explain one label at a time by passing "
                "output='probabilities' with a single-output model, or pick the label with output_head."
            )
        return OutputSpec(task, "probability", width, f"final {activation}")
    loss = _loss_kind(getattr(model, "loss", None))
    if loss == "logits":
        return OutputSpec("binary" if width <= 2 else "multiclass", "logit", width, "no final activation; loss from_logits=True")
    if loss == "probabilities":
        return OutputSpec("binary" if width <= 2 else "multiclass", "probability", width, "a probability loss (crossentropy)")
    if loss == "regression" or (loss is None and width == 1):
        how = "regression loss" if loss == "regression" else "one linear unit and no classification loss, so regression"
        return OutputSpec("regression", "value", width, how)
    raise ValueError(
        f"The model's last layer has {width} linear units and nothing says what they are: logits of {width} classes, "
        f"or {width} regression targets. Say which: Predictor(model, output='logits') or output='regression'."
    )


def _activation_name(layer: Any) -> str | None:
    if type(layer).__name__ == "Softmax":
        return "softmax"
    name = getattr(getattr(layer, "activation", None), "__name__", None)
    return name if name in ("softmax", "sigmoid") else None


def _loss_kind(loss: Any) -> str | None:
    """``"logits"``, ``"probabilities"``, ``"regression"`` or None (no loss, or one we cannot read)."""
    if loss is None or isinstance(loss, (dict, list, tuple)):
        return None
    config = loss.get_config() if hasattr(loss, "get_config") else {}
    name = str(config.get("name") or getattr(loss, "name", None) or getattr(loss, "__name__", None) or loss).lower()
    if config.get("from_logits") or getattr(loss, "_fn_kwargs", {}).get("from_logits"):
        return "logits"
    if any(key in name for key in _CLASSIFICATION_LOSSES):
        return "probabilities"
    if any(key == name or key in name for key in _REGRESSION_LOSSES):
        return "regression"
    return None
