"""The live progress line, fed by the shards through Dask."""

from __future__ import annotations

import sys
import time
from typing import Any

from .spec import TOPIC


def show_progress(client: Any, futures: list, shards: int, total: int) -> None:
    from distributed import Variable
    from tqdm.auto import tqdm

    variables = [Variable(f"{TOPIC}-{i}", client=client) for i in range(shards)]
    latest: dict[int, dict] = {}
    for i, v in enumerate(variables):  # set before polling: an unset Variable makes the scheduler log errors
        v.set({"shard": i, "open": 0, "sent": 0, "answered": 0, "errors": 0})
    bar = tqdm(total=len(futures), desc="shards", unit="shard", file=sys.stderr, leave=False)
    last_sent, last_t = 0, time.perf_counter()
    while not all(f.done() for f in futures):
        time.sleep(0.5)
        for i, v in enumerate(variables):
            try:
                latest[i] = v.get(timeout=0.05)
            except Exception:
                pass
        now = time.perf_counter()
        sent = sum(m["sent"] for m in latest.values())
        rate = (sent - last_sent) / max(1e-6, now - last_t)
        if now - last_t > 0.5:
            last_sent, last_t = sent, now
            bar.set_postfix_str(f"open {sum(m['open'] for m in latest.values())}/{total}  msg/s {rate:,.0f}  "
                                f"errors {sum(m['errors'] for m in latest.values())}")
        bar.n = sum(1 for f in futures if f.done())
        bar.refresh()
    bar.close()
