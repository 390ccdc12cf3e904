"""A prompt's identity: the sha256 of its instruction's UTF-8 bytes.

The ``prompt_id`` column is its hex form, the test split and RLAIF's draw are derived from it,
and `karma-build pool` joins runs by it: written once, here, so that the pool reader, the pool
builder and the output columns cannot disagree.
"""

from __future__ import annotations

import hashlib

import numpy as np


def prompt_digest(text: str) -> bytes:
    """The 32-byte sha256 of ``text``'s UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).digest()


def prompt_id(text: str) -> str:
    """The ``prompt_id`` of an instruction: its sha256, in hex."""
    return prompt_digest(text).hex()


def prompt_ids(digests: np.ndarray) -> list[str]:
    """The hex ``prompt_id`` of each row of an ``(n, 32)`` uint8 array of digests."""
    text = np.ascontiguousarray(digests).tobytes().hex()
    return [text[i : i + 64] for i in range(0, len(text), 64)]
