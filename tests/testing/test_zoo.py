"""Every zoo model is reachable from recaudit.testing.zoo and conforms to the protocol."""

import pytest

from recaudit.testing import check_recommender, zoo

RANKERS = [n for n in zoo.__all__ if n not in ("ScoringModel", "HonestExplainer",
                                                "DishonestExplainer")]


@pytest.mark.parametrize("name", RANKERS)
def test_zoo_model_conforms(name, small_world):
    model = getattr(zoo, name)(small_world)
    assert isinstance(model, zoo.ScoringModel)
    assert check_recommender(model, small_world)["passed"]


def test_unknown_zoo_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        zoo.Nope  # noqa: B018
