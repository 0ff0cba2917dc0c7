"""The channel pair that hands bulk results from the workers to the reader: bounded, in
order, ended by its last producer, and a consumer that leaves releases a waiting producer
(a worker must never wait forever to hand over a result after a ``break``)."""

from __future__ import annotations

import threading

import anyio
import pytest

from gatepay_async._primitives.synchronization import AsyncChannel, Channel


@pytest.mark.anyio
async def test_async_channel_is_bounded_ordered_and_ends_with_its_last_producer() -> None:
    channel: AsyncChannel[int] = AsyncChannel(2, producers=2)
    assert await channel.put(1)
    assert await channel.put(2)
    with anyio.move_on_after(0.1) as waited:
        await channel.put(3)  # full: waits for the reader
    assert waited.cancelled_caught
    channel.done()
    assert channel.get_nowait() == 1
    assert await channel.get() == 2
    assert channel.get_nowait() is None  # nothing waiting, one producer left
    channel.done()
    assert await channel.get() is None


@pytest.mark.anyio
async def test_closing_an_async_channel_releases_a_waiting_producer() -> None:
    channel: AsyncChannel[int] = AsyncChannel(1, producers=1)
    outcomes: list[bool] = []

    async def produce() -> None:
        outcomes.append(await channel.put(1))
        outcomes.append(await channel.put(2))  # waits: the channel is full

    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            group.start_soon(produce)
            await anyio.wait_all_tasks_blocked()  # the producer waits for room
            channel.close()
    assert outcomes == [True, False]
    assert await channel.get() is None


def test_channel_is_bounded_ordered_and_ends_with_its_last_producer() -> None:
    channel: Channel[int] = Channel(2, producers=2)
    assert channel.put(1)
    assert channel.put(2)
    channel.done()
    assert channel.get_nowait() == 1
    assert channel.get() == 2
    assert channel.get_nowait() is None
    channel.done()
    assert channel.get() is None


def test_closing_a_channel_releases_a_waiting_producer() -> None:
    channel: Channel[int] = Channel(1, producers=1)
    outcomes: list[bool] = []

    def produce() -> None:
        outcomes.append(channel.put(1))
        outcomes.append(channel.put(2))  # waits: the channel is full

    producer = threading.Thread(target=produce)
    producer.start()
    producer.join(0.1)
    assert producer.is_alive()  # still waiting for room
    channel.close()
    producer.join(5)
    assert not producer.is_alive()
    assert outcomes == [True, False]
    assert channel.get() is None
