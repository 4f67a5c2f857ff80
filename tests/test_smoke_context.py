import pytest

import aiomq

pytestmark = pytest.mark.anyio


async def test_cancel_sets_err() -> None:
    ctx, cancel = aiomq.with_cancel(aiomq.background())
    assert ctx.err() is None
    cancel()
    assert isinstance(ctx.err(), aiomq.Canceled)
