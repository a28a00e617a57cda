"""The response models: they are the OpenAPI schema clients read (``/openapi.json``)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Reference(BaseModel):
    """An indexed photo shown beside a suggestion: its image is ``GET /v1/photos/{photo_id}``."""

    photo_id: str
    label: str = Field(description="The photo's current label in the index.")
    similarity: float = Field(description="Cosine similarity to the query's mean embedding.")


class Result(BaseModel):
    taxon: str = Field(description="The class (taxon name) of the model.")
    rank: str | None = Field("species", description="The rank the class sits at (null when "
                             "the model places it at none).")
    lineage: dict[str, str]
    score: float = Field(description="Calibrated combined probability (vision x prior).")
    vision_score: float = Field(description="Calibrated probability from the photos alone.")
    prior_score: float | None = None
    expected_nearby: bool | None = None
    local_name: str | None = Field(None, description="With a family's source: that "
                                   "source's name of the taxon (its names file).")
    references: list[Reference] = Field(
        default_factory=list, description="Up to three indexed photos labelled inside this "
        "taxon, nearest the query first ([] without --index).")


class Decision(BaseModel):
    """A walk-up decision of the decision core, as ``fieldguide identify`` writes it per
    observation (taxon, rank, probability, auto_validated); ``rank`` is null when no taxon
    clears the threshold, and ``probability`` is then the best one at the coarsest rank."""

    taxon: str | None
    rank: str | None
    probability: float | None
    auto_validated: bool
    threshold: float | None = Field(None, description="The threshold the decision met or "
                                    "missed: its group's (calibrate --groups-at) or the "
                                    "single one.")
    provenance: str | None = Field(None, description="What decided it: tokens joined by "
                                   "'+' (vision, prior:NAME, restricted:NAME, "
                                   "group_threshold:GROUP, rolled_up:RANK, undecided, "
                                   "rejected:ood|quality; docs/identify.md).")


class ImageResult(BaseModel):
    index: int
    filename: str
    taxon: str | None = None
    score: float | None = None
    error: str | None = None


class ModelInfo(BaseModel):
    name: str
    version: str
    classes: int


class Trait(BaseModel):
    """A trait member's answer: the trait's value and its calibrated probability."""

    value: str
    probability: float


class Identification(BaseModel):
    results: list[Result]
    decision: Decision = Field(description="The walk-up from the rule's finest to its "
                               "coarsest rank: identify's per-observation decision.")
    common_ancestor: Decision = Field(description="The same walk-up carried on to the "
                                      "coarsest rank the model knows: the finest taxon that "
                                      "clears the threshold, at any rank.")
    mass_outside: float | None = Field(None, description="With taxa or within: the "
                                       "probability the photos had outside those taxa, "
                                       "before renormalising.")
    rejected: bool = Field(description="Not like the training photos (e.g. not a plant); the "
                           "answer is still 200, unlike Pl@ntNet's 404.")
    reject_reason: str | None = None
    images: list[ImageResult]
    similar: list[dict[str, object]] = []
    model: ModelInfo
    members: list[str] | None = Field(default=None, description="A family's members that made the "
                                      "answer (name:version): the main member and the top "
                                      "taxon's group member, the source's where customised, "
                                      "and that group's trait members.")
    local_name: str | None = Field(None, description="With a family's source: that source's "
                                   "name of the decision's taxon (its names file).")
    traits: dict[str, Trait] | None = Field(default=None, description="A family's trait "
                                            "members' answers for the top taxon's group "
                                            "(e.g. its life stage), by column, on the "
                                            "observation's mean embedding.")


class MemberInfo(BaseModel):
    """One model the service answers with: a family's member, or the single model."""

    name: str
    version: str
    role: str = Field(description="main (which group), group (a group's taxa), trait (a "
                      "trait's values for a group's photos) or model.")
    group: str | None = None
    source: str | None = Field(default=None, description="The source it is customised for "
                               "(null: shared).")
    classes: list[str]
    metrics: dict[str, object]
    release_notes: str = ""


class Taxon(BaseModel):
    taxon: str
    lineage: dict[str, str]
