"""siteproof cleanup and siteproof instances against the ECS emulator.

A run killed with SIGKILL never reaches release(); here a target is simply
abandoned after RunInstances, which leaves exactly what such a run leaves.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from ecs_emulator import EmulatorHandle, start_emulator

from siteproof.cli import main
from siteproof.errors import EXIT_OK
from siteproof.journal import open_runs
from siteproof.targets.aliyun import AliyunTarget
from support.aliyun_cloud import make_target
from support.ecs import ECS_TEST_AK, ECS_TEST_SECRET


def abandon(emu: EmulatorHandle) -> AliyunTarget:
    """Rent an instance and walk away, as a killed process would."""
    target = make_target(emu)
    target.provision()
    return target


def test_cleanup_dry_run_lists_without_releasing(
    aliyun_emu: EmulatorHandle, capsys: pytest.CaptureFixture[str]
) -> None:
    target = abandon(aliyun_emu)

    code = main(["cleanup", "--endpoint", aliyun_emu.endpoint, "--dry-run"])
    listed = capsys.readouterr().out
    live = aliyun_emu.state.live_resources()
    main(["cleanup", "--endpoint", aliyun_emu.endpoint])

    assert code == EXIT_OK
    assert f"would release instance {target.facts.instance_id}" in listed
    assert f"security_group {target.facts.security_group_id}" in listed
    assert f"key_pair siteproof-{target.run_id}" in listed
    assert live.instances == (target.facts.instance_id,)


def test_cleanup_releases_an_abandoned_run_from_its_journal(
    aliyun_emu: EmulatorHandle, capsys: pytest.CaptureFixture[str]
) -> None:
    target = abandon(aliyun_emu)

    code = main(["cleanup", "--endpoint", aliyun_emu.endpoint])
    out = capsys.readouterr().out

    assert code == EXIT_OK
    assert f"releasing instance {target.facts.instance_id}" in out
    assert "found in journal" in out
    assert open_runs() == []  # the journal now says the run is finished


def test_cleanup_releases_by_tag_when_the_journal_is_lost(
    aliyun_emu: EmulatorHandle, cloud_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = abandon(aliyun_emu)
    shutil.rmtree(cloud_env / "runs")

    code = main(["cleanup", "--endpoint", aliyun_emu.endpoint])
    out = capsys.readouterr().out

    assert code == EXIT_OK
    assert f"releasing instance {target.facts.instance_id}" in out
    assert f"run {target.run_id}, found in cloud" in out


def test_cleanup_finds_a_run_network_by_name(
    cloud_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    emu = start_emulator(access_keys={ECS_TEST_AK: ECS_TEST_SECRET}, default_vpc=False)
    try:
        abandon(emu)
        shutil.rmtree(cloud_env / "runs")

        code = main(["cleanup", "--endpoint", emu.endpoint])
        out = capsys.readouterr().out

        assert code == EXIT_OK
        assert "releasing vpc " in out
        assert "releasing vswitch " in out
        emu.state.wait_until_gone(timeout_s=10)
        assert emu.state.live_resources().is_empty()
    finally:
        emu.stop()


def test_cleanup_leaves_a_run_in_progress_alone(
    aliyun_emu: EmulatorHandle, capsys: pytest.CaptureFixture[str]
) -> None:
    target = make_target(aliyun_emu)
    target.provision()
    # The journal names this very process, which is alive: an active run.
    journal = target._journal
    assert journal is not None
    text = journal.path.read_text()
    journal.path.write_text(text.replace('"pid": ', '"pid": 1, "old_pid": ', 1))

    main(["cleanup", "--endpoint", aliyun_emu.endpoint])
    out = capsys.readouterr().out
    live = aliyun_emu.state.live_resources()
    target.release()

    assert target.facts.instance_id not in out
    assert live.instances == (target.facts.instance_id,)


def test_instances_lists_age_lifetime_and_cost(
    aliyun_emu: EmulatorHandle, capsys: pytest.CaptureFixture[str]
) -> None:
    target = abandon(aliyun_emu)
    try:
        code = main(
            ["instances", "--endpoint", aliyun_emu.endpoint, "--format", "json"]
        )
        rows = json.loads(capsys.readouterr().out)
        main(["instances", "--endpoint", aliyun_emu.endpoint])
        text = capsys.readouterr().out
    finally:
        target.release()

    assert code == EXIT_OK
    (row,) = rows
    assert row["instance_id"] == target.facts.instance_id
    assert row["run_id"] == target.run_id
    assert row["status"] == "Running"
    assert 0 <= row["age_s"] < 600
    assert 7200 - 600 < row["lifetime_left_s"] <= 7200
    assert row["hourly_price"] == pytest.approx(target.facts.hourly_price)
    assert row["currency"] == "CNY"
    assert target.facts.instance_id in text
    assert "left 1h5" in text or "left 2h00m" in text
