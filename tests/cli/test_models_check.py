"""``together-magic models --check`` against a real ``serve`` standing in for the cloud."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from together_magic.models import CATALOGUE_AS_OF

from ..cloud_helpers import ADDED, DROPPED, REPRICED, Cloud, cloud
from ..conftest import Server
from .test_main import run

__all__ = ["cloud"]


def test_check_reports_exactly_what_the_cloud_changed(cloud: Cloud) -> None:
    done = run("models", "--check", env=cloud.env())
    assert done.returncode == 1 and done.stderr == "", done.stderr
    lines = done.stdout.splitlines()
    assert (
        lines[0] == f"catalogue: Together's list of {CATALOGUE_AS_OF}; {cloud.root}/v1 lists 27 image models"
    )
    marked = [line.split()[:2] for line in lines if line.startswith("  ")]
    assert marked == [["+", ADDED[0]], ["+", ADDED[1]], ["-", DROPPED], ["~", REPRICED[0]]]
    assert "$0.018/image (third-party, 2026-10-08) -> $0.02/image" in done.stdout
    assert "$0.003/image" in done.stdout  # the added model's published price
    assert "acme/chatter" not in done.stdout  # not an image model
    assert lines[-1].startswith("differences: 2 new, 1 gone, 1 price changed")
    assert cloud.key not in done.stdout + done.stderr
    alias = run("info", "--models", "--check", env=cloud.env())
    assert (alias.returncode, alias.stdout) == (1, done.stdout)


def test_check_exits_0_when_the_cloud_lists_the_catalogue(start_server: Callable[..., Server]) -> None:
    srv = start_server("--require-key", "sk-same")
    done = run(
        "models",
        "--check",
        env={"TOGETHER_BASE_URL": f"http://127.0.0.1:{srv.port}", "TOGETHER_API_KEY": "sk-same"},
    )
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.splitlines()[1] == "no difference: the same models, and no published price differs"


def test_check_says_network_and_key_trouble_in_one_line(cloud: Cloud) -> None:
    cases = {
        "401": {**cloud.env(), "TOGETHER_API_KEY": "sk-wrong"},
        "could not talk to": {"TOGETHER_BASE_URL": "http://127.0.0.1:9", "TOGETHER_API_KEY": "k"},
        "none is configured": {},
    }
    for says, env in cases.items():
        done = run("models", "--check", env=env)
        assert done.returncode == 2 and done.stdout == "", (says, done.stdout)
        lines = done.stderr.strip().splitlines()
        assert (
            len(lines) == 1
            and lines[0].startswith("together-magic: error: models --check: ")
            and says in lines[0]
        )
        assert "sk-wrong" not in done.stderr


def test_models_without_check_is_the_catalogue() -> None:
    assert run("models").stdout == run("info", "--models").stdout
    assert run("models", "--markdown").stdout.startswith("| maker | model id | status |")


def test_generate_with_a_listed_model_the_cloud_refuses_says_how_to_check(
    cloud: Cloud, tmp_path: Path
) -> None:
    done = run(
        "generate", "-m", DROPPED, "--size", "256x256", "--save", str(tmp_path), "a fox", env=cloud.env()
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "404" in lines[0], done.stderr
    assert f"Together's list of {CATALOGUE_AS_OF}) lists {DROPPED}" in lines[0]
    assert "the catalogue may be stale; together-magic models --check compares it" in lines[0]
