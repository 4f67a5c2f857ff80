"""Put a SingleFlight in front of a slow lookup: a burst of identical requests costs one call.

Run ``python examples/singleflight_lookup.py [--backend asyncio|trio]`` (about a second).
The "database" answers after 0.2 s and counts its queries. Four rounds:

1. 100 concurrent requests for one user: one query, every caller gets the row, and every
   caller (the first included) is told the result was shared;
2. results are shared, not cached: a request after that burst queries again;
3. callers that give up (a timeout) stop only their own wait: the query goes on and the
   patient callers still get the row;
4. ``do_chan`` with ``select``: wait for the row or a deadline, whichever comes first
   (Go's ``select { case r := <-g.DoChan(...): case <-ctx.Done(): }``); an error reaches
   every caller.

The Go version is ``golang.org/x/sync/singleflight``: ``g.Do(key, fn)``, ``g.DoChan``.
"""

from __future__ import annotations

import argparse

import anyio

from aiomq.concurrency.chan import recv_case, select
from aiomq.concurrency.context import background, with_timeout
from aiomq.concurrency.singleflight import SingleFlight


class Database:
    """A slow user table that counts its queries."""

    def __init__(self) -> None:
        self.queries = 0

    async def user(self, user_id: int) -> dict[str, object]:
        self.queries += 1
        await anyio.sleep(0.2)
        if user_id < 0:
            raise LookupError(f"no user {user_id}")
        return {"id": user_id, "name": f"user-{user_id}"}


async def main() -> None:
    db = Database()
    flight = SingleFlight()

    print("-- 1. a burst of 100 identical requests")
    results: list[tuple[dict[str, object], bool]] = []

    async def request(user_id: int) -> None:
        results.append(await flight.do(f"user:{user_id}", db.user, user_id))

    async with anyio.create_task_group() as tg:
        for _ in range(100):
            tg.start_soon(request, 42)
    print(f"{len(results)} callers, {db.queries} query; first got {results[0]}")
    assert db.queries == 1
    assert all(r == results[0] for r in results)

    print("-- 2. shared, not cached")
    _, shared = await flight.do("user:42", db.user, 42)
    print(f"a later request: {db.queries} queries in all, shared={shared}")

    print("-- 3. impatient callers do not spoil the call")
    db.queries = 0
    outcomes: list[str] = []

    async def impatient() -> None:
        with anyio.move_on_after(0.05):
            await flight.do("user:7", db.user, 7)
            outcomes.append("got it")
            return
        outcomes.append("gave up")

    async def patient() -> None:
        row, _ = await flight.do("user:7", db.user, 7)
        outcomes.append(f"got {row['name']}")

    async with anyio.create_task_group() as tg:
        tg.start_soon(impatient)  # the caller that started the query gives up first
        tg.start_soon(patient)
        tg.start_soon(impatient)
    print(f"{sorted(outcomes)}, {db.queries} query")

    print("-- 4. do_chan in a select with a deadline; errors reach every caller")
    for user_id, seconds in ((9, 0.5), (10, 0.1)):
        ctx, _ = with_timeout(background(), seconds)
        index, value = await select(
            recv_case(flight.do_chan(f"user:{user_id}", db.user, user_id)), ctx
        )
        if index == 0:
            print(f"user {user_id}: {value.value} within {seconds} s")
        else:
            print(f"user {user_id}: no answer within {seconds} s ({value!r})")

    errors: list[BaseException] = []

    async def broken() -> None:
        try:
            await flight.do("user:-1", db.user, -1)
        except LookupError as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(broken)
    assert all(error is errors[0] for error in errors)
    print(f"{len(errors)} callers got {errors[0]!r}, the same exception object")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    anyio.run(main, backend=parser.parse_args().backend)
