"""Reproducible random decisions for the embedded proxy.

Toxiproxy draws from one process-wide generator, so which connection a 50 % toxic hits depends on the
order goroutines happen to run in (and its `-seed` flag is ignored). Here every (proxy, toxic, connection)
gets its own generator derived from the server seed and their names and the connection's index on its
proxy. Two runs with the same seed and the same per-proxy connection order make the same decisions,
whatever the other proxies are doing at the same time.
"""

from __future__ import annotations

import hashlib
import random
import secrets


def fresh_seed() -> int:
    """A seed for a server started without one (printed, so the run can still be replayed)."""
    return secrets.randbits(32)


def derive_rng(seed: int, *parts: object) -> random.Random:
    """A generator that depends only on `seed` and `parts` (names, indexes), not on scheduling."""
    digest = hashlib.blake2b("\x1f".join([str(seed), *map(str, parts)]).encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))
