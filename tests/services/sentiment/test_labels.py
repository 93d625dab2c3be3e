import pytest
import torch

from services.sentiment.labels import LabelMappingError, mapping_matrix, parse_label_map
from shared.schemas import SentimentLabel


def rows(matrix):
    return [row.tolist() for row in matrix]


def test_named_labels_any_case_and_order():
    m = mapping_matrix({0: "Positive", 1: "NEG", 2: "neutral"})
    assert rows(m) == [[0, 0, 1], [1, 0, 0], [0, 1, 0]]


def test_label_n_three_class_convention():
    assert rows(mapping_matrix({0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"})) == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]


def test_five_stars_pool_into_three():
    m = mapping_matrix({i: f"{i + 1} star{'s' if i else ''}" for i in range(5)})
    probs = torch.tensor([[0.1, 0.2, 0.3, 0.25, 0.15]])
    assert torch.allclose(probs @ m, torch.tensor([[0.3, 0.3, 0.4]]))


def test_unknown_labels_explain_how_to_fix():
    with pytest.raises(LabelMappingError, match="REPWATCH_SENTIMENT_LABEL_MAP"):
        mapping_matrix({0: "LABEL_0", 1: "LABEL_1"})
    with pytest.raises(LabelMappingError, match="joy"):
        mapping_matrix({0: "joy", 1: "anger", 2: "neutral"})


def test_explicit_map_wins_and_must_name_real_labels():
    override = parse_label_map("joy=positive, anger=negative,neutral=neutral")
    assert rows(mapping_matrix({0: "joy", 1: "anger", 2: "neutral"}, override)) == [[0, 0, 1], [1, 0, 0], [0, 1, 0]]
    with pytest.raises(LabelMappingError, match="does not have"):
        mapping_matrix({0: "negative", 1: "neutral", 2: "positive"}, {"nope": SentimentLabel.NEGATIVE})


@pytest.mark.parametrize("spec", ["LABEL_0", "LABEL_0=angry"])
def test_bad_map_spec(spec):
    with pytest.raises(LabelMappingError):
        parse_label_map(spec)


def test_decide_labels_argmax_and_negative_threshold():
    import numpy as np

    from services.sentiment.labels import decide_labels

    probs = np.array([[0.3, 0.6, 0.1], [0.1, 0.2, 0.7], [0.45, 0.1, 0.45], [0.05, 0.9, 0.05]])
    assert decide_labels(probs).tolist() == [1, 2, 0, 1]
    assert decide_labels(probs, negative_threshold=0.25).tolist() == [0, 2, 0, 1]
