"""Reading a party's HTTP answer with a bound: TSAs, witnesses and chain nodes are outside our trust.

An answer is read chunk by chunk and refused the moment it passes its limit, so a party that
streams without end costs the anchorer at most that many bytes. Each client says what its
limit is and which error a too-long answer is (a lying witness is a verification failure, an
overlong chain answer an unavailable node).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable


async def read_capped(chunks: AsyncIterator[bytes], limit: int, too_long: Callable[[], Exception]) -> bytes:
    """The answer's bytes, or ``too_long()`` raised once more than ``limit`` arrived."""
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > limit:
            raise too_long()
    return bytes(body)
