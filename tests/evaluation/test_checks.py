"""Bad input is refused with the offending field named."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from fieldguide.errors import InputError
from fieldguide.evaluation import compare_models, evaluate


def field_of(
    probs: np.ndarray | None = None,
    y_true: np.ndarray | None = None,
    class_names: list[str] | None = None,
    **options: Any,
) -> str | None:
    """Evaluate a valid 2-image, 2-class case with one argument replaced; return the field
    the raised InputError names."""
    with pytest.raises(InputError) as err:
        evaluate(np.full((2, 2), 0.5) if probs is None else probs,
                 np.array([0, 1]) if y_true is None else y_true,
                 ["a", "b"] if class_names is None else class_names, **options)
    return err.value.field


def test_rows_not_summing_to_one() -> None:
    assert field_of(probs=np.array([[0.5, 0.4], [0.5, 0.5]])) == "probs"


def test_logits_negative_nan_and_shape() -> None:
    assert field_of(probs=np.array([[2.0, -1.0], [0.5, 0.5]])) == "probs"
    assert field_of(probs=np.array([[np.nan, 1.0], [0.5, 0.5]])) == "probs"
    assert field_of(probs=np.array([0.5, 0.5])) == "probs"


def test_float32_softmax_is_accepted() -> None:
    p = np.array([[0.1, 0.2, 0.7]], dtype=np.float32) * np.float32(1.0000004)
    assert evaluate(p, np.array([2]), ["a", "b", "c"]).top1 == 1.0


def test_labels_out_of_range_wrong_length_or_not_integers() -> None:
    assert field_of(y_true=np.array([0, 2])) == "y_true"
    assert field_of(y_true=np.array([0, -1])) == "y_true"
    assert field_of(y_true=np.array([0])) == "y_true"
    assert field_of(y_true=np.array([0.0, 0.5])) == "y_true"
    assert evaluate(np.full((2, 2), 0.5), np.array([0.0, 1.0]), ["a", "b"]).n_samples == 2


def test_per_class_arguments_must_have_one_entry_per_class() -> None:
    assert field_of(class_names=["a"]) == "class_names"
    assert field_of(train_counts=np.array([1, 2, 3])) == "train_counts"
    assert field_of(train_counts=np.array([1, -2])) == "train_counts"
    assert field_of(superclass=["x"]) == "superclass"


def test_compared_models_must_score_the_same_images() -> None:
    with pytest.raises(InputError) as err:
        compare_models(np.full((2, 2), 0.5), np.full((3, 2), 0.5), np.array([0, 1]), ["a", "b"])
    assert err.value.field == "probs_b"
