"""A new user's first run with real processes: demo, review in the browser, DPO export; and
an empty queue that says which condition removed how many items (CLI and API)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from queue import Empty, Queue

import httpx
from playwright.sync_api import Browser

from tests.a11y.checks import check_page

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rlhf_otel.cli", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=ENV, check=False,
    )  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def _review(args: Sequence[str]) -> Iterator[tuple[str, list[str]]]:
    """``rlhf-otel review`` as a real process; yields its URL and the lines it printed up to
    the one naming the URL. Stopped with SIGTERM by pid."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "rlhf_otel.cli", "review", *args, "--port", str(port)],
        cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines: Queue[str] = Queue()
    assert proc.stdout is not None
    stdout = proc.stdout
    threading.Thread(target=lambda: [lines.put(x) for x in stdout], daemon=True).start()
    seen: list[str] = []
    url = f"http://127.0.0.1:{port}/"
    try:
        while not any(url in line for line in seen):
            try:
                seen.append(lines.get(timeout=120).rstrip("\n"))
            except Empty:
                raise AssertionError(f"review did not start: {seen}") from None
        for _ in range(600):  # the line comes just before uvicorn listens
            try:
                httpx.get(url + "api/config", timeout=5)
                break
            except httpx.TransportError:
                threading.Event().wait(0.05)
        yield url, seen
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        stdout.close()


def test_newcomer_demo_review_five_then_dpo_export(browser: Browser, tmp_path: Path) -> None:
    """Fresh dir -> demo (leaves answers unrated, writes a queue file) -> review with no
    --queue serves it -> five blind A/B votes in the browser -> the DPO export has them."""
    data = tmp_path / "fresh"
    demo = _cli("demo", "--data-dir", str(data))
    assert demo.returncode == 0, demo.stderr
    queue_file = data / "review-queue.yaml"
    assert demo.stdout.endswith(
        "Some answers were left unrated. Review them (blind A/B pairs):\n"
        f"  rlhf-otel review --data-dir {data}\n"
        f"(it serves the queue file {queue_file}; edit it to change the rubric)\n"
    )
    assert queue_file.stat().st_mode & 0o777 == 0o600
    votes: list[tuple[str, str, str]] = []
    with _review(["--data-dir", str(data)]) as (url, printed):
        assert printed[0] == f"rlhf-otel review: no --queue given: serving {queue_file}"
        assert printed[-1].startswith("rlhf-otel review: queue 'demo-arena', 8 items (0 of 8")
        page = browser.new_page()
        page.goto(url)
        page.wait_for_selector("#reviewer:focus")
        page.keyboard.type("newcomer")
        page.keyboard.press("Enter")
        page.wait_for_selector("#review[data-state=item]")
        assert page.is_visible("#guidelines-body strong:has-text('more helpful, correct')")
        assert check_page(page, "review-demo-arena") == []
        for n in range(5):
            page.wait_for_selector("#review[data-state=item]")
            prompt = page.inner_text("#prompt")
            a, b = page.inner_text("#answer-a"), page.inner_text("#answer-b")
            key = "a" if n % 2 == 0 else "b"
            votes.append((prompt, *((a, b) if key == "a" else (b, a))))
            page.keyboard.press(key)
            page.keyboard.press("Enter")
            page.wait_for_selector("#review[data-state=revealed]")
            page.keyboard.press("Enter")
    out = tmp_path / "dpo.jsonl"
    export = _cli(
        "export", "--data-dir", str(data), "--format", "dpo", "--user", "newcomer",
        "--out", str(out),
    )  # fmt: skip
    assert export.returncode == 0, export.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    got = sorted(
        (r["prompt"][-1]["content"], r["chosen"][-1]["content"], r["rejected"][-1]["content"])
        for r in rows
    )
    # the page renders Markdown, so compare on the words the reviewer saw
    flat = sorted((p.split(), c.split(), r.split()) for p, c, r in votes)
    assert len(got) == 5
    assert [(p.split(), _words(c), _words(r)) for p, c, r in got] == flat


def _words(markdown: str) -> list[str]:
    plain = markdown.replace("**", "").replace("`", "").replace("python\n", "\n")
    return plain.split()


def test_empty_queue_says_which_condition_removed_what(tmp_path: Path) -> None:
    """A queue that selects nothing: the CLI line and the API answer name each condition
    and how many items it removed."""
    data = tmp_path / "d"
    assert _cli("demo", "--data-dir", str(data), "--conversations", "8").returncode == 0
    queue = tmp_path / "q.json"
    queue.write_text(
        json.dumps(
            {
                "name": "nothing",
                "selection": {"thumbs_down": True, "models": ["fake-tiny"]},
                "rubric": {"types": ["rating"]},
            }
        )
    )
    with _review(["--data-dir", str(data), "--queue", str(queue)]) as (url, printed):
        session = httpx.post(url + "api/signin", json={"reviewer": "ann"}).json()["session"]
        auth = {"authorization": f"Bearer {session}"}
        answer = httpx.post(url + "api/next", json={"client": "c"}, headers=auth).json()
    funnel = answer["funnel"]
    assert answer["item"] is None
    assert [(r["condition"], r["removed"], r["left"]) for r in funnel] == [
        ("interactions in the store", 0, 16),
        ("models", 16, 0),
        ("thumbs_down", 0, 0),
    ]
    assert printed[0] == (
        "rlhf-otel review: queue 'nothing' selected no items: 16 interactions in the store; "
        "models removed 16 (from other models), 0 left; thumbs_down removed 0 (have no "
        "thumbs-down), 0 left"
    )


def test_review_without_queue_says_what_it_serves(tmp_path: Path) -> None:
    """No --queue and no demo queue file: the default queue is served and the first line
    says so; an empty store's funnel is printed too."""
    data = tmp_path / "empty"
    data.mkdir()
    with _review(["--data-dir", str(data)]) as (_, printed):
        pass
    assert printed[:2] == [
        "rlhf-otel review: no --queue given: serving the default queue (answers with no "
        "feedback yet; thumbs, a 1-5 rating and a comment or correction)",
        "rlhf-otel review: queue 'default' selected no items: 0 interactions in the store; "
        "no_feedback removed 0 (already have feedback (end users or the demo)), 0 left",
    ]
