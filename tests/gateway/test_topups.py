"""Top-ups and roster files: ``class grant`` reaches a running gateway on its next request, ``class add
--roster`` writes the tokens to a private handout (never over a file, never printed), a bad roster adds no
one, and the 402 a student reads names the command that helps.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest

from together_magic.gateway.roster import Roster, Student

from ..conftest import Server
from .conftest import Gateway, bearer, body
from .test_commands import run

GENERATIONS = "/v1/images/generations"


def post(gw: Gateway, token: str, seed: int) -> httpx.Response:
    return httpx.post(f"{gw.root}{GENERATIONS}", json=body(seed), headers=bearer(token), timeout=30)


def test_grant_tops_up_a_spent_student_at_the_running_gateway(
    upstream: Server, start_gateway: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    gw: Gateway = start_gateway("--upstream", upstream.base_url)
    ada, bo, cy = gw.add("ada lovelace", images=1), gw.add("bo", images=1, budget=0.01), gw.add("cy")
    assert post(gw, ada, 1).status_code == 200
    spent = post(gw, ada, 2)
    assert spent.status_code == 402
    assert spent.json()["error"]["message"] == (
        "Your class budget is spent: 1 of 1 images. Ask your teacher for more "
        "(together-magic class grant 'ada lovelace' --images N)."
    )
    data = str(gw.data)
    code, out, err = run(capsys, "class", "grant", "ada lovelace", "--images", "2", "--data", data)
    assert (code, err) == (0, "")
    assert out == "granted ada lovelace 2 more images: now 1 of 3 images, $0.0154 (active)\n"
    assert [post(gw, ada, seed).status_code for seed in (3, 4, 5)] == [200, 200, 402]  # exactly two more

    run(capsys, "class", "revoke", "cy", "--data", data)
    grant_all = ["class", "grant", "--all", "--images", "1", "--budget", "0.5", "--data", data]
    code, out, err = run(capsys, *grant_all)
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "granted 1 more image and $0.50 more to each of 2 students (revoked ones are left out)",
        "nothing changed for ada lovelace: that limit was never set (no limit)",
    ]
    usage = {u.name: u for u in Roster(gw.data).usage()}
    assert (usage["ada lovelace"].images_limit, usage["ada lovelace"].budget_micros) == (4, None)
    assert (usage["bo"].images_limit, usage["bo"].budget_micros) == (2, 510_000)
    assert usage["cy"].images_limit == 7  # revoked: left alone
    assert post(gw, ada, 6).status_code == 200 and post(gw, bo, 7).status_code == 200
    assert post(gw, cy, 8).status_code == 401


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["class", "grant", "--images", "2"], "NAME: give a student's name, or --all"),
        (["class", "grant", "ada", "--all", "--images", "2"], "NAME: give a student's name, or --all"),
        (["class", "grant", "ada"], "grant: give --images N, --budget DOLLARS or both"),
        (["class", "grant", "ada", "--images", "0"], "--images: must be from 1"),
        (["class", "grant", "ada", "--budget", "0"], "--budget: must be dollars from more than 0"),
        (["class", "grant", "nobody", "--images", "2"], "no active student named 'nobody'"),
        (["class", "add", "x", "--tokens", "t.csv"], "--tokens: only with --roster FILE"),
        (["class", "add", "x", "--roster", "r.txt"], "NAME: give a student's name, or --roster FILE"),
    ],
)
def test_grant_and_add_mistakes_are_one_line(
    argv: list[str], fragment: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Roster(tmp_path).add("ada", images=1, budget=None, expires=None)
    code, out, err = run(capsys, *argv, "--data", str(tmp_path))
    assert code == 2 and out == "" and err.count("\n") == 1 and fragment in err, (out, err)


def _tokens(path: Path) -> dict[str, str]:
    rows = [line.split(",") for line in path.read_text().splitlines()]
    assert rows[0] == ["name", "token"]
    return dict(rows[1:])


def test_a_roster_file_becomes_a_private_handout_never_overwritten(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, roster = str(tmp_path / "class"), tmp_path / "Class 7b.csv"
    roster.write_text("\ufeffEmail;Name\nada@school;Ada Lovelace\n# a comment\n\nbo@school;  Bo  \n")
    os.umask(old := os.umask(0o022))  # whatever the umask says, the handout is the teacher's alone
    code, out, err = run(capsys, "class", "add", "--roster", str(roster), "--images", "5", "--data", data)
    handout = tmp_path / "Class 7b-tokens.csv"
    assert (code, err) == (0, "")
    assert stat.S_IMODE(handout.stat().st_mode) == 0o600
    tokens = _tokens(handout)
    assert list(tokens) == ["Ada Lovelace", "Bo"]
    assert not any(token in out for token in tokens.values())  # printed nowhere
    assert f"their tokens are in {handout}" in out and "added 2 students (5 images" in out
    students = Roster(data)
    assert [students.student(t) for t in tokens.values()] == [
        Student(1, "Ada Lovelace"),
        Student(2, "Bo"),
    ]

    # The class grows: who is in already is skipped (and said), the handout before is never replaced.
    before = handout.read_bytes()
    roster.write_text("name\nAda Lovelace\nCy\n")
    code, out, err = run(capsys, "class", "add", "--roster", str(roster), "--data", data)
    assert (code, err) == (0, "") and handout.read_bytes() == before
    assert "already in the class, skipped (1): Ada Lovelace" in out
    more = tmp_path / "Class 7b-tokens-1.csv"
    assert list(_tokens(more)) == ["Cy"] and stat.S_IMODE(more.stat().st_mode) == 0o600
    code, out, _ = run(capsys, "class", "add", "--roster", str(roster), "--data", data)
    assert code == 0 and "nothing to add" in out and not (tmp_path / "Class 7b-tokens-2.csv").exists()
    assert [u.name for u in students.usage()] == ["Ada Lovelace", "Bo", "Cy"]
    students.close()
    os.umask(old)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("ada\nbo\nAda\n", "line 3: 'Ada' is already on line 1"),
        ("ada,a@x\nbo,b@x\n", "a CSV roster needs a header with a 'name' column"),
        ("ada\nb\to\n", "line 2: give 1 to 40 printable characters"),
        ("name,email\nada,a@x\n\t,b@x\n", "line 3: give 1 to 40 printable characters"),
        ("# only a comment\n\n", "holds no names"),
        (b"ada\n\xff\xfe\n".decode("latin-1"), "line 2: is not UTF-8 text"),
        ("x" * 41 + "\n", "line 1: give 1 to 40"),
    ],
)
def test_a_bad_roster_adds_no_one_and_writes_nothing(
    text: str, fragment: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    roster = tmp_path / "roster.txt"
    roster.write_bytes(text.encode("latin-1") if "\xff" in text else text.encode())
    code, out, err = run(capsys, "class", "add", "--roster", str(roster), "--data", str(tmp_path / "d"))
    assert code == 2 and out == "" and err.count("\n") == 1 and fragment in err, err
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "d") == ["roster.txt"]
    assert Roster(tmp_path / "d").usage() == []
