"""mcal register: the champion alias follows the promotion rule unless --force."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from mcal.cli import main
from mcal_lightning.tracking import champion, registry
from mcal_lightning.tracking.champion import Decision


@pytest.fixture
def recorded(monkeypatch, tmp_path):
    """The rule's decision is set by the test; what register and challenge received is kept."""
    seen: dict = {"challenged": []}
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(champion, "run_data_config", lambda run_id, cache: ("config", cache))

    def fake_challenge(run_id, config, metric, maximize, rule):
        seen["challenged"].append((run_id, config, metric, rule.min_delta, rule.confidence))
        return seen["decision"]

    def fake_register(run_id, alias):
        seen["alias"] = alias
        return "7"

    monkeypatch.setattr(champion, "challenge", fake_challenge)
    monkeypatch.setattr(registry, "register", fake_register)
    return seen


def test_a_challenger_that_does_not_clear_the_rule_keeps_no_alias(recorded):
    recorded["decision"] = Decision(False, "r", "challenger 0.61 vs champion 0.55: not promoted")
    result = CliRunner().invoke(main, ["register", "--run", "abc", "--metric", "auroc",
                                       "--min-delta", "0.02", "--cache", "c"])
    assert result.exit_code == 0, result.output
    assert recorded["challenged"] == [("abc", ("config", "c"), "auroc", 0.02, 0.95)]
    assert recorded["alias"] is None
    assert "not promoted" in result.output and "without the champion alias" in result.output


def test_a_promoted_challenger_takes_the_alias(recorded):
    recorded["decision"] = Decision(True, "r", "challenger 0.9: no champion yet, promoted")
    result = CliRunner().invoke(main, ["register", "--run", "abc"])
    assert result.exit_code == 0, result.output
    assert recorded["alias"] == "champion" and "alias 'champion'" in result.output


@pytest.mark.parametrize(("args", "alias"), [(["--force"], "champion"),
                                             (["--alias", "staging"], "staging")])
def test_force_or_another_alias_skips_the_rule(recorded, args, alias):
    result = CliRunner().invoke(main, ["register", "--run", "abc", *args])
    assert result.exit_code == 0, result.output
    assert recorded["challenged"] == [] and recorded["alias"] == alias
