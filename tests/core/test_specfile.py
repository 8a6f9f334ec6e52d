"""Spec files: size, nesting and YAML alias caps, each refused in one line naming the limit."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from rlhf_otel import ValidationError
from rlhf_otel._specfile import SpecLimits, load_spec_file
from tests.cli.conftest import cli
from tests.guards import returns


def _alias_bomb(levels: int = 9) -> str:
    """The classic "billion laughs": each level lists the previous one nine times."""
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        refs = ", ".join([f"*l{i - 1}"] * 9)
        lines.append(f"l{i}: &l{i} [{refs}]")
    return "\n".join(lines) + "\n"


def test_yaml_alias_bomb_is_refused_by_the_expansion_cap(tmp_path: Path) -> None:
    """An alias bomb (9^9 leaves) is refused naming the values cap, in one short line."""
    path = tmp_path / "bomb.yaml"
    path.write_text(_alias_bomb())
    with pytest.raises(ValidationError) as info:
        load_spec_file(path, what="queue file")
    assert str(info.value) == (
        f"queue file {path} expands to more than the limit of 100,000 values "
        "(YAML aliases count each time used)"
    )


def test_yaml_aliases_within_the_cap_load_as_usual(tmp_path: Path) -> None:
    """Anchors and aliases under the cap load to the same values as written out."""
    path = tmp_path / "ok.yaml"
    path.write_text("base: &b {types: [rating, text]}\nother: *b\nmerged: {<<: *b, extra: 1}\n")
    assert load_spec_file(path) == {
        "base": {"types": ["rating", "text"]},
        "other": {"types": ["rating", "text"]},
        "merged": {"types": ["rating", "text"], "extra": 1},
    }


def test_a_recursive_yaml_alias_is_refused(tmp_path: Path) -> None:
    """An alias used inside its own anchor is refused instead of building a cycle."""
    path = tmp_path / "loop.yaml"
    path.write_text("a: &a [1, *a]\n")
    with pytest.raises(ValidationError, match=r"alias \*a is used inside its own anchor"):
        load_spec_file(path)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("deep.yaml", "[" * 5000 + "]" * 5000),
        ("deep.json", "[" * 100_000 + "]" * 100_000),
        ("deep_objects.json", '{"a":' * 5000 + "1" + "}" * 5000),
    ],
)
def test_deep_nesting_is_refused_without_recursion_error(
    tmp_path: Path, name: str, text: str
) -> None:
    """Nesting far past the interpreter's recursion limit is refused naming the depth cap."""
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ValidationError) as info:
        load_spec_file(path, what="queue file")
    assert str(info.value) == (
        f"queue file {path} nests lists or mappings more than the limit of 64 levels deep"
    )


def test_an_alias_used_deep_counts_its_own_depth(tmp_path: Path) -> None:
    """An anchor 40 deep used under 30 levels reaches 70 levels and is refused."""
    path = tmp_path / "deep_alias.yaml"
    path.write_text(f"a: &a {'[' * 40}1{']' * 40}\nb: {'[' * 30}*a{']' * 30}\n")
    with pytest.raises(ValidationError, match="more than the limit of 64 levels deep"):
        load_spec_file(path)


def test_brackets_inside_json_strings_are_not_nesting(tmp_path: Path) -> None:
    """Brackets and escaped quotes inside JSON strings do not count as depth."""
    value = {"prompt": "[" * 500 + '\\"{' * 100, "list": [[1]]}
    path = tmp_path / "strings.json"
    path.write_text(json.dumps(value))
    assert load_spec_file(path) == value


def test_depth_check_is_linear_on_escaped_quotes(tmp_path: Path) -> None:
    """A MiB of backslash-quote pairs (quadratic for a backtracking string pattern) is judged
    in one pass: refused as invalid JSON, within a hang guard."""
    path = tmp_path / "quotes.json"
    path.write_text('\\"' * 500_000)
    with pytest.raises(ValidationError, match="is not valid JSON"):
        returns(lambda: load_spec_file(path, limits=SpecLimits(max_bytes=2 << 20)))
    nested = {"a": "ends in a backslash \\", "b": [["x\\"]], "c": '\\"{['}
    path.write_text(json.dumps(nested))
    assert load_spec_file(path) == nested


def test_file_over_the_size_cap_is_refused_before_parsing(tmp_path: Path) -> None:
    """A file larger than the size cap is refused by its size, not parsed."""
    path = tmp_path / "big.json"
    path.write_bytes(b"{" * 2048)  # not even valid: the size is checked first
    with pytest.raises(ValidationError) as info:
        load_spec_file(path, limits=SpecLimits(max_bytes=1024))
    assert str(info.value) == f"spec file {path} is 2,048 bytes, more than the limit of 1,024 bytes"


def test_non_utf8_and_non_regular_files_are_refused(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 and a FIFO under the name are refused in one line."""
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{"name": "caf\xe9"}')
    with pytest.raises(ValidationError, match=r"is not UTF-8 text \(byte 13\)"):
        load_spec_file(path)
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    with pytest.raises(ValidationError, match="is not a regular file"):
        load_spec_file(fifo)


def test_syntax_errors_are_one_bounded_line(tmp_path: Path) -> None:
    """A YAML syntax error quoting a long line comes back as one line of at most 300 chars."""
    path = tmp_path / "broken.yaml"
    path.write_text("a: [" + "x" * 5000 + "\nb: ]: :\n")
    with pytest.raises(ValidationError) as info:
        load_spec_file(path)
    message = str(info.value)
    assert message.startswith(f"spec file {path} is not valid YAML: ")
    assert "\n" not in message
    assert len(message) <= 300


@pytest.mark.parametrize(
    ("name", "text", "limit"),
    [
        ("bomb.yaml", _alias_bomb(), "limit of 100,000 values"),
        ("deep.yaml", "[" * 5000 + "]" * 5000, "limit of 64 levels deep"),
        ("deep.json", "[" * 100_000 + "]" * 100_000, "limit of 64 levels deep"),
    ],
)
def test_review_cli_exits_2_with_one_line_on_hostile_queue_files(
    tmp_path: Path, name: str, text: str, limit: str
) -> None:
    """`rlhf-otel review --queue` on a hostile file exits 2 with one line, no traceback."""
    path = tmp_path / name
    path.write_text(text)
    result = cli("review", "--data-dir", str(tmp_path), "--queue", str(path))
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"rlhf-otel: error: queue file {path} ")
    assert limit in result.stderr
    assert "Traceback" not in result.stderr
