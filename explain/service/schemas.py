"""The JSON bodies the service reads and writes (pydantic), so /docs shows every field with its meaning."""
from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

Targets = int | list[int | None] | None


class ExplainRequest(BaseModel):
    """One request: the same fields as :func:`explain.explain_batch`, with inputs as JSON."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="a reference model name (GET /models) or an uploaded model's id")
    inputs: list[Any] = Field(description="a batch: images as nested lists of pixels, review strings, or feature rows")
    method: str = Field("gradcam", description="a method name; GET /models/{id} lists those that apply")
    params: dict[str, Any] = Field(default_factory=dict, description="the method's parameters, e.g. {\"seed\": 0}")
    targets: Targets = Field(None, description="one class for all inputs, one per input, or null (predicted class)")
    scores: bool | list[str] = Field(False, description="faithfulness scores: true, or some of deletion/insertion/additivity")
    truncate: bool = Field(False, description="explain texts longer than the model's window by their first tokens")
    deadline_s: float | None = Field(None, gt=0, description="answer within this many seconds, else get a job to poll")


class JobRequest(ExplainRequest):
    kind: Literal["explain"] = "explain"


class AuditJobRequest(BaseModel):
    """An audit as a job: every input explained by every method and scored; the reply is its table."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["audit"]
    model: str
    inputs: list[Any]
    labels: list[Any] | None = Field(None, description="true labels (or values), one per input: adds correct / error")
    methods: list[str] = Field(min_length=1)
    params: dict[str, dict[str, Any]] = Field(default_factory=dict, description="per method, e.g. {\"lime_image\": {\"num_samples\": 500}}")
    metrics: list[str] = Field(default_factory=lambda: ["deletion"])
    top_k: int = Field(5, ge=1, le=100)
    truncate: bool = False


class ReportJobRequest(BaseModel):
    """A report as a job: the inputs explained by each method, written as one HTML or PDF document."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["report"]
    model: str
    inputs: list[Any] = Field(min_length=1)
    methods: list[str] = Field(min_length=1)
    params: dict[str, dict[str, Any]] = Field(default_factory=dict, description="per method, e.g. {\"lime_image\": {\"seed\": 0}}")
    targets: Targets = None
    labels: list[Any] | None = Field(None, description="true labels (or values), one per input, shown beside the prediction")
    format: Literal["html", "pdf"] = "html"
    title: str | None = Field(None, max_length=200)
    scores: bool = Field(True, description="add the faithfulness (deletion) scores")
    truncate: bool = False


def _kind(value: Any) -> str:
    return str(value.get("kind", "explain") if isinstance(value, dict) else getattr(value, "kind", "explain"))


AnyJob = Annotated[Union[Annotated[JobRequest, Tag("explain")], Annotated[AuditJobRequest, Tag("audit")],
                         Annotated[ReportJobRequest, Tag("report")]], Discriminator(_kind)]


class Quality(BaseModel):
    seed: int | None = None
    faithfulness_gain: float | None = Field(None, description="deletion AUC of random order minus this explanation's; > 0 is better than random")
    deletion_auc: float | None = None
    deletion_random_auc: float | None = None
    additivity_gap: float | None = Field(None, description="|sum of attributions + base value - model output|")
    completeness_gap: float | None = None


class ExplainResponse(BaseModel):
    model: str
    method: str
    explanations: list[dict[str, Any]] = Field(description="each Explanation.to_dict(): Explanation.from_dict reads it back")
    keys: list[str] = Field(description="store keys: GET /explanations/{key} returns the same explanation")
    cached: list[bool] = Field(description="per input: answered from the explanation store without recomputing")
    quality: list[Quality]
    seconds: float


class JobStatus(BaseModel):
    id: str
    kind: str
    status: Literal["queued", "running", "done", "failed", "cancelled"]
    progress: float
    attempts: int
    created: str
    started: str | None = None
    finished: str | None = None
    result: ExplainResponse | dict[str, Any] | None = Field(None, description="an explain reply, an audit's rows and summary, or where a report is")
    error: dict[str, Any] | None = None


class JobAccepted(BaseModel):
    id: str
    status: str
    poll: str


class Uploaded(BaseModel):
    id: str
    created: bool
    description: dict[str, Any]
