"""Model descriptions and configs are bounded: bombs fail fast with a clear ValueError, allocating nothing."""

import importlib
import time

import gymnasium
import pytest

from mixrl.utils.model_instantiators import _config

BACKENDS = ["torch", "jax"]
OBS, ACT = gymnasium.spaces.Box(-1, 1, (3,)), gymnasium.spaces.Box(-1, 1, (2,))


def instantiators(backend: str):
    return importlib.import_module(f"mixrl.utils.model_instantiators.{backend}")


def alias_bomb(levels: int = 10) -> str:
    """A few hundred bytes that expand to 10**levels strings when the aliases are followed."""
    names = [chr(ord("a") + i) for i in range(levels + 1)]
    lines = [f"{names[0]}: &{names[0]} [x, x, x, x, x, x, x, x, x, x]"]
    lines += [
        f"{name}: &{name} [{', '.join([f'*{previous}'] * 10)}]"
        for previous, name in zip(names, names[1:], strict=False)
    ]
    return "\n".join(lines) + "\n"


def refused_fast(call, match: str) -> None:
    """``call()`` raises ValueError matching ``match`` in well under a second (the backend already imported)."""
    start = time.perf_counter()
    with pytest.raises(ValueError, match=match):
        call()
    assert time.perf_counter() - start < 1.0


class TestYaml:
    def test_an_alias_bomb_sidecar_beside_a_checkpoint_is_refused(self, tmp_path):
        """A 10-level alias sidecar (ran 161 s / 6.3 GB before MemoryError) is refused in milliseconds."""
        model = instantiators("torch").deterministic_model(OBS, ACT, device="cpu", hiddens=[4])
        model.save(tmp_path / "policy.pt")
        (tmp_path / "policy.pt.model.yaml").write_text(alias_bomb())
        load_model = instantiators("torch").load_model
        refused_fast(
            lambda: load_model(tmp_path / "policy.pt"), r"policy\.pt\.model\.yaml.*aliases \(\*a\) are refused"
        )

    @pytest.mark.parametrize("backend", BACKENDS)
    def test_an_alias_bomb_runner_config_is_refused(self, backend, tmp_path):
        """A runner YAML config with aliases (took 4 GB / 60 s) is refused before anything is built."""
        path = tmp_path / "runner.yaml"
        path.write_text(alias_bomb() + "models: {separate: true, policy: {class: GaussianMixin, hiddens: *j}}\n")
        model_from_config = instantiators(backend).model_from_config
        refused_fast(lambda: model_from_config(path), "aliases .* are refused")

    @pytest.mark.parametrize("text", ["[" * 5000, "- " * 5000, "{a: " * 5000], ids=["flow", "block", "mapping"])
    def test_deep_nesting_is_refused(self, text):
        """5000 nested levels (a RecursionError) stop at the 33rd."""
        refused_fast(lambda: _config.plan(text + "\n"), "nested deeper than 32 levels")

    def test_an_oversized_file_is_read_no_further_than_the_limit(self, tmp_path):
        """A file larger than MAX_YAML_CHARACTERS is refused after reading that many characters."""
        path = tmp_path / "big.yaml"
        path.write_text("class: GaussianMixin\n" + "#" * (4 * _config.MAX_YAML_CHARACTERS))
        refused_fast(lambda: _config.plan(path), "above the limit of 262144")

    def test_a_huge_encoded_space_is_refused_before_it_is_allocated(self):
        """observation_space: Box of shape [1e9] (gigabytes of bounds) is refused from its declared size."""
        text = "class: DeterministicMixin\nobservation_space: {type: Box, low: 0, high: 1, shape: [1000000000]}\n"
        refused_fast(lambda: _config.plan(text), r"observation_space: a space of 1000000000 elements, above the limit")


class TestSizes:
    @pytest.mark.parametrize("backend", BACKENDS)
    def test_a_billion_units_layer_is_refused(self, backend):
        """layers: [1000000000] (allocated gigabytes) is refused while parsing."""
        network = [{"name": "net", "input": "STATES", "layers": [1000000000]}]
        build = instantiators(backend).deterministic_model
        refused_fast(
            lambda: build(OBS, ACT, network=network, output="ACTIONS"),
            r"layer 0 must be a positive int up to 65536 .*got 1000000000",
        )

    @pytest.mark.parametrize("backend", BACKENDS)
    def test_a_layer_of_too_many_weights_is_refused(self, backend):
        """Two legal widths whose product is above MAX_WEIGHTS: refused before the layer is created."""
        network = [{"name": "a", "input": "STATES", "layers": [60000]}, {"name": "b", "input": "a", "layers": [60000]}]
        build = instantiators(backend).deterministic_model
        refused_fast(
            lambda: build(OBS, ACT, network=network, output="ACTIONS"),
            r"container 'b', layer 0 \(linear\): 3600000000 weights for an input of 60000",
        )

    @pytest.mark.parametrize("backend", BACKENDS)
    def test_a_huge_int_space_is_refused(self, backend):
        """observation_space=10**9 (a (1, 1e9) dry-run sample) is refused."""
        build = instantiators(backend).deterministic_model
        refused_fast(
            lambda: build(10**9, 2, hiddens=[4]),
            "observation_space of 1000000000 elements, above the limit of 16777216",
        )

    @pytest.mark.parametrize(
        ("text", "match"),
        [
            ("-" * 100000 + "STATES", "at most 4096 characters, got 100006 characters"),
            ("concatenate([" + ", ".join(["STATES"] * 10000) + "])", "at most 4096 characters"),
            ("concatenate([" + ", ".join(["STATES"] * 300) + "])", "one list of 1 to 256 items"),
            ("-" * 40 + "STATES", "nested deeper than 32 levels"),
        ],
        ids=["minus-signs", "concatenate-10k", "concatenate-300", "nesting"],
    )
    @pytest.mark.parametrize("backend", BACKENDS)
    def test_long_input_expressions_are_refused(self, backend, text, match):
        """100k minus signs (a MemoryError), 10k concatenated items (206 s on JAX): clear errors, fast."""
        network = [{"name": "net", "input": text, "layers": [4]}]
        build = instantiators(backend).deterministic_model
        refused_fast(lambda: build(OBS, ACT, network=network, output="ACTIONS"), match)
