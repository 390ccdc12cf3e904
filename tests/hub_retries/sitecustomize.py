"""Imported at start-up by the `karma-build` processes of the Hub tests (this folder is put on
their PYTHONPATH by ``tests/hub_retries.py``): huggingface_hub's own retries of a request, which
run under ours (5 of them after a 5xx, and in 2.x after a dropped connection too, waiting 1, 2,
4, 8 and 8 s), wait KARMA_HUB_RETRY_WAIT seconds instead, as ours do in these tests. The tries
themselves, their number and what the user is told are unchanged; without KARMA_HUB_RETRY_WAIT
(a test of a user's real waits) nothing is changed at all.
"""

import os

_wait = os.environ.get("KARMA_HUB_RETRY_WAIT")
if _wait:
    from huggingface_hub.utils import _http

    for _name in ("http_backoff", "_http_backoff_base"):  # 1.x and 2.x alike
        _defaults = getattr(getattr(_http, _name, None), "__kwdefaults__", None)
        if _defaults and "base_wait_time" in _defaults:
            _defaults["base_wait_time"] = _defaults["max_wait_time"] = float(_wait)
