"""The environment of a `karma-build` process in the Hub tests whose retries wait little.

Ours follow KARMA_HUB_RETRY_WAIT (karma_plugin.hub.faults); huggingface_hub's own, under
ours, follow it through ``hub_retries/sitecustomize.py`` on the process's PYTHONPATH. Without
this, a test of a Hub that keeps failing waits what a user would: 23 s of huggingface_hub's
backoff for each of our 6 tries (138 s; the tests of a connection dropped for good took
143 and 146 s on huggingface_hub 2.x).
"""

from __future__ import annotations

import os
from pathlib import Path

SITE = Path(__file__).parent / "hub_retries"


def quick_retries(wait_s: str = "0.01") -> dict[str, str]:
    """KARMA_HUB_RETRY_WAIT and a PYTHONPATH that starts with the start-up hook (then the
    installed tree, as before)."""
    path = os.pathsep.join(p for p in (str(SITE), os.environ.get("PYTHONPATH", "")) if p)
    return {"KARMA_HUB_RETRY_WAIT": wait_s, "PYTHONPATH": path}
