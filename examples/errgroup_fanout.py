"""Fan out over many URLs with an ErrGroup: at most 4 at once, one deadline, first error wins.

Run ``python examples/errgroup_fanout.py [--backend asyncio|trio]``. The "URLs" are simulated
(each answers after a fixed delay), so it needs no network and finishes in about a second.
Three rounds:

1. every fetch succeeds: results are gathered, never more than 4 run at once;
2. one fetch fails: its error is raised as itself and cancels the fetches still running;
3. the deadline passes first: the group raises ``DeadlineExceeded`` (a ``TimeoutError``).

The Go version is ``errgroup.WithContext`` + ``g.SetLimit(4)`` + ``g.Go`` + ``g.Wait()``.
"""

from __future__ import annotations

import argparse

import anyio

from aiomq.concurrency.context import Context, background, with_timeout
from aiomq.concurrency.errgroup import ErrGroup

LIMIT = 4


class Site:
    """A pretend web server: each URL answers after its delay, or fails."""

    def __init__(self, delays: dict[str, float], broken: str | None = None) -> None:
        self.delays = delays
        self.broken = broken
        self.running = 0
        self.most_running = 0
        self.started: list[str] = []
        self.cancelled: list[str] = []
        self.failed: list[str] = []

    async def fetch(self, ctx: Context, url: str) -> str:
        """Fetch ``url``; gives up when ``ctx`` ends, as a Go function checks ``ctx.Done()``."""
        self.started.append(url)
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            with ctx.scope():
                await anyio.sleep(self.delays[url])
                if url == self.broken:
                    self.failed.append(url)
                    raise ConnectionError(f"{url}: connection reset by peer")
                return f"{int(self.delays[url] * 40_000)} bytes"
            # Only reached when ctx ended during the fetch: report why, as Go returns ctx.Err().
            self.cancelled.append(url)
            err = ctx.err()
            assert err is not None
            raise err
        except anyio.get_cancelled_exc_class():
            self.cancelled.append(url)  # cancelled by the group after another fetch failed
            raise
        finally:
            self.running -= 1

    def summary(self, urls: list[str]) -> str:
        done = len(self.started) - len(self.cancelled) - len(self.failed)
        never = len(urls) - len(self.started)
        return (
            f"{done} fetched, {len(self.failed)} failed, {len(self.cancelled)} cancelled"
            f" mid-fetch, {never} never started"
        )


async def crawl(site: Site, urls: list[str], seconds: float) -> dict[str, str]:
    """Fetch every URL, at most ``LIMIT`` at once, all within ``seconds``."""
    ctx, cancel = with_timeout(background(), seconds)
    results: dict[str, str] = {}

    async def fetch_one(url: str) -> None:
        results[url] = await site.fetch(g.ctx, url)

    try:
        async with ErrGroup(ctx, limit=LIMIT) as g:
            for url in urls:
                await g.go(fetch_one, url)  # waits for one of the 4 slots
    finally:
        cancel()
    return results


async def main() -> None:
    urls = [f"https://example.com/page/{i}" for i in range(12)]
    delays = {url: 0.05 + 0.02 * (i % 5) for i, url in enumerate(urls)}
    start = 0.0

    def elapsed() -> str:
        """Time since the current round began."""
        return f"{anyio.current_time() - start:4.2f}s"

    print(f"1. {len(urls)} URLs, at most {LIMIT} at once, deadline 2s")
    site = Site(delays)
    start = anyio.current_time()
    results = await crawl(site, urls, seconds=2.0)
    for url, body in results.items():
        print(f"   {url:28} {body}")
    print(f"   after {elapsed()}: all {len(results)} fetched, at most {site.most_running} at once")

    print("2. the same, but page/5 is broken")
    site = Site(delays, broken=urls[5])
    start = anyio.current_time()
    try:
        await crawl(site, urls, seconds=2.0)
    except ConnectionError as exc:
        print(f"   after {elapsed()}: raised {exc!r}")
        print(f"   {site.summary(urls)}")

    print("3. the same, with a 0.1s deadline")
    site = Site(delays)
    start = anyio.current_time()
    try:
        await crawl(site, urls, seconds=0.1)
    except TimeoutError as exc:
        print(f"   after {elapsed()}: raised {type(exc).__name__}({str(exc)!r})")
        print(f"   {site.summary(urls)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    anyio.run(main, backend=parser.parse_args().backend)
