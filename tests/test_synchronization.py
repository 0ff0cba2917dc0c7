"""The concurrency primitives, where a task and a thread behave differently."""

from __future__ import annotations

import _thread
import threading
import time

import anyio
import pytest

from gatepay_async._bulk.worker_pool import AsyncWorkerPool
from gatepay_async._primitives.synchronization import AsyncFlag, AsyncTaskGroup, Flag, TaskGroup
from gatepay_async._storage.group_commit import AsyncGroupCommit
from gatepay_sync._storage.group_commit import GroupCommit

BACKENDS = ["asyncio", "trio"]


def test_thread_task_group_keeps_waiting_through_keyboard_interrupts() -> None:
    interrupts: list[int] = []
    finished = threading.Event()

    def work() -> None:
        # Ends only once both interrupts reached on_interrupt: the group must still be
        # waiting for it then, not gone with the second KeyboardInterrupt.
        deadline = time.monotonic() + 10
        while len(interrupts) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        finished.set()

    def interrupt_soon() -> None:
        time.sleep(0.05)
        _thread.interrupt_main()  # a second Ctrl-C, while the group waits

    def run() -> None:
        with TaskGroup(on_interrupt=interrupts.append) as tasks:
            tasks.start_soon(work)
            tasks.start_soon(interrupt_soon)
            raise KeyboardInterrupt  # the first Ctrl-C ends the block

    with pytest.raises(KeyboardInterrupt):
        run()
    assert finished.is_set()
    assert interrupts == [1, 2]


def test_thread_task_group_keeps_waiting_through_a_ctrl_c_inside_on_interrupt() -> None:
    interrupts: list[int] = []
    finished = threading.Event()

    def on_interrupt(count: int) -> None:
        interrupts.append(count)
        if count == 1:
            _thread.interrupt_main()
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:  # the KeyboardInterrupt lands in here
                pass

    def work() -> None:
        deadline = time.monotonic() + 10
        while len(interrupts) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        finished.set()

    def run() -> None:
        with TaskGroup(on_interrupt=on_interrupt) as tasks:
            tasks.start_soon(work)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run()
    assert finished.is_set()
    assert interrupts == [1, 2]


def test_thread_task_group_waits_when_the_block_raises() -> None:
    finished = threading.Event()

    def work() -> None:
        time.sleep(0.05)
        finished.set()

    def run() -> None:
        with TaskGroup() as tasks:
            tasks.start_soon(work)
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        run()
    assert finished.is_set()


@pytest.mark.parametrize("backend", BACKENDS)
def test_task_group_cancels_its_tasks_when_cancelled(backend: str) -> None:
    cancelled: list[bool] = []

    async def forever() -> None:
        try:
            await anyio.sleep(30)
        except anyio.get_cancelled_exc_class():
            cancelled.append(True)
            raise

    async def main() -> None:
        with anyio.move_on_after(0.05):
            async with AsyncTaskGroup() as tasks:
                tasks.start_soon(forever)
                await anyio.sleep(30)

    anyio.run(main, backend=backend)
    assert cancelled == [True]


@pytest.mark.parametrize("backend", BACKENDS)
def test_pool_cancelled_while_waiting_after_an_error_cancels_cleanly(backend: str) -> None:
    """An error waits for the calls; a cancellation during that wait still cancels them."""
    cancelled: list[bool] = []

    async def forever(_: int) -> None:
        try:
            await anyio.sleep(30)
        except anyio.get_cancelled_exc_class():
            cancelled.append(True)
            raise

    async def main() -> None:
        with anyio.move_on_after(0.1):
            async with AsyncWorkerPool(2) as pool:
                await pool.submit(forever, 1)
                raise RuntimeError("stop")

    anyio.run(main, backend=backend)
    assert cancelled == [True]


def test_flag_wait_with_a_timeout() -> None:
    flag = Flag()
    assert flag.wait(0.01) is False
    threading.Timer(0.02, flag.set).start()
    assert flag.wait(5) is True


@pytest.mark.parametrize("backend", BACKENDS)
def test_async_flag_wait_with_a_timeout(backend: str) -> None:
    async def main() -> None:
        flag = AsyncFlag()
        assert await flag.wait(0.01) is False

        async def set_soon() -> None:
            await anyio.sleep(0.02)
            flag.set()

        async with anyio.create_task_group() as group:
            group.start_soon(set_soon)
            assert await flag.wait(5) is True
        flag.clear()
        assert await flag.wait(0.01) is False

    anyio.run(main, backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_async_group_commit_flushes_off_the_event_loop_thread(backend: str) -> None:
    threads: list[int] = []
    commit = AsyncGroupCommit(lambda: threads.append(threading.get_ident()))
    anyio.run(commit.commit, backend=backend)
    assert len(threads) == 1
    assert threads[0] != threading.get_ident()


def test_group_commit_flushes_in_the_calling_thread() -> None:
    threads: list[int] = []
    commit = GroupCommit(lambda: threads.append(threading.get_ident()))
    commit.commit()
    assert threads == [threading.get_ident()]
