"""Sessions: per context, replaced after expiry, knowing their interactions and feedback."""

from __future__ import annotations

import asyncio
import threading
import time

from opentelemetry.sdk.trace import TracerProvider

from rlhf_otel import RLHFLogger, create_rlhf_logger


def test_default_session_started_on_initialize(logger: RLHFLogger) -> None:
    """initialize() starts a session that records the interaction and feedback ids."""
    logger.initialize()
    session = logger.get_current_session()
    assert session is not None
    assert session.id
    iid = logger.log_interaction("q", "a")
    fid = logger.log_binary_feedback(iid, True)
    session = logger.get_current_session()
    assert session is not None
    assert (session.interaction_ids, session.feedback_ids) == ([iid], [fid])


def test_start_and_end_session(logger: RLHFLogger) -> None:
    """start_session replaces the current one; end_session returns it ended, then none is current."""
    logger.initialize()
    first = logger.start_session()
    sid = logger.start_session("user123", {"device": "mobile"})
    assert sid != first
    current = logger.get_current_session()
    assert current is not None
    assert (current.id, current.user_id, current.metadata) == (sid, "user123", {"device": "mobile"})
    iid = logger.log_interaction("q", "a")
    it = logger.get_interaction(iid)
    assert it is not None
    assert (it.session_id, it.user_id) == (sid, "user123")
    ended = logger.end_session()
    assert ended is not None
    assert ended.end_time is not None
    assert ended.interaction_ids == [iid]
    assert logger.get_current_session() is None


def test_tracking_disabled_has_no_session(tracer_provider: TracerProvider) -> None:
    """With session tracking off, no session exists until one is started."""
    with create_rlhf_logger(
        backend="memory", enable_session_tracking=False, tracer_provider=tracer_provider
    ) as lg:
        assert lg.get_current_session() is None
        iid = lg.log_interaction("q", "a")
        it = lg.get_interaction(iid)
        assert it is not None
        assert it.session_id is None


def test_expired_session_is_replaced(tracer_provider: TracerProvider) -> None:
    """A session idle past the timeout is replaced by a new one (same user) on the next record."""
    with create_rlhf_logger(
        backend="memory", session_timeout=0.05, tracer_provider=tracer_provider
    ) as lg:
        sid = lg.start_session("u1")
        lg.log_interaction("q", "a")
        time.sleep(0.1)
        iid = lg.log_interaction("q", "b")
        current = lg.get_current_session()
        assert current is not None
        assert current.id != sid
        assert current.user_id == "u1"
        it = lg.get_interaction(iid)
        assert it is not None
        assert (it.session_id, it.user_id) == (current.id, "u1")


def test_sessions_stay_separate_across_threads(logger: RLHFLogger) -> None:
    """8 threads, each in its own session, only ever log into their own session."""
    results: dict[int, tuple[str, list[str]]] = {}
    barrier = threading.Barrier(8)

    def work(n: int) -> None:
        with logger.session(user_id=f"user-{n}") as session:
            barrier.wait()
            ids = [logger.log_interaction(f"q{n}-{k}", "a") for k in range(50)]
            results[n] = (session.id, ids)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({sid for sid, _ in results.values()}) == 8
    for n, (sid, ids) in results.items():
        for iid in ids:
            it = logger.get_interaction(iid)
            assert it is not None
            assert (it.session_id, it.user_id) == (sid, f"user-{n}")


def test_sessions_stay_separate_across_asyncio_tasks(logger: RLHFLogger) -> None:
    """100 concurrent asyncio tasks each keep their own session."""

    async def task(n: int) -> tuple[str, list[str]]:
        with logger.session(user_id=f"u{n}") as session:
            ids = []
            for k in range(3):
                ids.append(logger.log_interaction(f"{n}-{k}", "a"))
                await asyncio.sleep(0)
            return session.id, ids

    async def main() -> list[tuple[str, list[str]]]:
        return await asyncio.gather(*(task(n) for n in range(100)))

    results = asyncio.run(main())
    assert len({sid for sid, _ in results}) == 100
    for n, (sid, ids) in enumerate(results):
        for iid in ids:
            it = logger.get_interaction(iid)
            assert it is not None
            assert (it.session_id, it.user_id) == (sid, f"u{n}")
