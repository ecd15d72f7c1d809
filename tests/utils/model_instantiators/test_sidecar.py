"""The description sidecar beside a checkpoint: <path>.model.yaml."""

import pytest

from mixrl.utils.model_instantiators._sidecar import read_sidecar, sidecar_path, write_sidecar

DESCRIPTION = {"class": "DeterministicMixin", "clip_actions": False, "low": float("-inf"), "output": "ONE"}


def test_path_convention(tmp_path):
    """policy.pt -> policy.pt.model.yaml."""
    assert sidecar_path(tmp_path / "policy.pt") == str(tmp_path / "policy.pt.model.yaml")


def test_round_trip_keeps_order_and_infinities(tmp_path):
    """What is written is read back (key order, inf), with a comment naming the weights."""
    write_sidecar(tmp_path / "w.pt", DESCRIPTION)
    assert read_sidecar(tmp_path / "w.pt") == DESCRIPTION
    assert list(read_sidecar(tmp_path / "w.pt")) == list(DESCRIPTION)
    assert (tmp_path / "w.pt.model.yaml").read_text().startswith("# mixrl model description of the weights in w.pt")


def test_missing_sidecar_names_the_file(tmp_path):
    """A missing sidecar is a ValueError naming it."""
    with pytest.raises(ValueError, match=r"w\.pt\.model\.yaml: missing"):
        read_sidecar(tmp_path / "w.pt")


@pytest.mark.parametrize(("text", "match"), [("class: [", "not valid YAML"), ("- 1\n", "expected a mapping")])
def test_corrupted_sidecar_names_the_file(tmp_path, text, match):
    """Broken YAML or a non-mapping document is a ValueError naming the sidecar."""
    (tmp_path / "w.pt.model.yaml").write_text(text)
    with pytest.raises(ValueError, match=rf"w\.pt\.model\.yaml: corrupted model description.*{match}"):
        read_sidecar(tmp_path / "w.pt")
