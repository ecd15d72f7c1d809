"""Names of the model kinds in descriptions, and the recurrent keywords."""

import pytest

from mixrl.utils.model_instantiators._kinds import MIXINS, check_recurrent, parse_kind


class TestParseKind:
    @pytest.mark.parametrize(
        ("name", "mixin"),
        [
            ("GaussianMixin", "GaussianMixin"),
            ("GaussianModel", "GaussianMixin"),
            ("gaussian_model", "GaussianMixin"),
            ("gaussian", "GaussianMixin"),
            ("MULTIVARIATE_GAUSSIAN_MODEL", "MultivariateGaussianMixin"),
            ("multicategoricalmixin", "MultiCategoricalMixin"),
            ("categorical_model", "CategoricalMixin"),
            ("DeterministicModel", "DeterministicMixin"),
        ],
    )
    def test_mixin_class_generated_class_and_function_names(self, name, mixin):
        """Any of the three names, case-insensitive, underscores ignored."""
        assert parse_kind(name).name == mixin

    @pytest.mark.parametrize("name", ["Shared", "SharedModel", "shared_model", "shared"])
    def test_shared_model_is_none(self, name):
        """The shared model has no single mixin."""
        assert parse_kind(name) is None

    @pytest.mark.parametrize("name", ["BetaMixin", "Model", "", None, 3])
    def test_unknown_names_list_the_kinds(self, name):
        """The error names the value and every kind."""
        with pytest.raises(ValueError, match=r"unknown model class.*'CategoricalMixin'.*'Shared'"):
            parse_kind(name)

    def test_every_mixin_names_its_instantiator(self):
        """The function of a kind is the instantiator that builds it."""
        assert {m.function for m in MIXINS.values()} == {
            "categorical_model",
            "multicategorical_model",
            "deterministic_model",
            "gaussian_model",
            "multivariate_gaussian_model",
        }


@pytest.mark.parametrize(("num_envs", "sequence_length"), [(0, 16), (1, 0), (1.0, 16), (True, 16), (1, "16")])
def test_recurrent_keywords_are_positive_ints(num_envs, sequence_length):
    """num_envs and sequence_length: positive ints, anything else is a ValueError naming it."""
    with pytest.raises(ValueError, match="must be a positive int"):
        check_recurrent(num_envs, sequence_length)
