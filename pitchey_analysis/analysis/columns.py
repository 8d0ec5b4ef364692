"""The samples table as numpy columns, grouped without copying the frame (pure, numpy/pandas only).

At a hundred million samples a boolean index of the DataFrame, a ``groupby`` over
it or a metric column turned into Python strings each cost seconds and gigabytes;
these helpers take the few columns a summary needs as numpy arrays (the metric as
integer codes of a categorical) and hand out each group's values in their order
in the table, so that a summary made from them is the same, number for number, as
one made with a pandas ``groupby``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np
import pandas as pd

T = TypeVar("T")
R = TypeVar("R")

#: Tables of at least this many rows are summarized on several threads (numpy's sort, partition and compress run
#: without the GIL); below it the threads cost more than they save.
PARALLEL_ROWS = 1 << 20


def ok_mask(samples: pd.DataFrame) -> np.ndarray:
    """The rows a latency figure uses: ``ok`` is True and ``value_ms`` is a number (a numpy bool array)."""
    ok = samples["ok"]
    if ok.dtype == bool:
        good = ok.to_numpy()
    else:  # nullable boolean or object: a missing ok is not ok
        good = (ok == True).to_numpy(dtype=bool, na_value=False)  # noqa: E712
    return good & ~np.isnan(samples["value_ms"].to_numpy(dtype="float64"))


def metric_codes(samples: pd.DataFrame) -> tuple[np.ndarray, list]:
    """Integer codes of the ``metric`` column (-1: missing) and the values they stand for (a categorical's codes, no
    copy of its strings)."""
    m = samples["metric"]
    if isinstance(m.dtype, pd.CategoricalDtype):
        return m.cat.codes.to_numpy(), list(m.cat.categories)
    codes, names = pd.factorize(m, use_na_sentinel=True)
    return codes, list(names)


def first_seen(codes: np.ndarray, mask: np.ndarray, n_codes: int) -> list[int]:
    """The codes (of ``0..n_codes-1``) present under ``mask`` in the order they first appear (a ``groupby(sort=False)``'s)."""
    firsts = []
    for c in range(n_codes):
        sel = mask & (codes == c)
        i = int(sel.argmax())  # the first True (argmax of a bool array stops there)
        if sel[i]:
            firsts.append((i, c))
    return [c for _, c in sorted(firsts)]


def where(codes: np.ndarray, code: int, mask: np.ndarray) -> np.ndarray:
    """The masked rows with this code, as a boolean array (indexing with it keeps table order and, unlike
    row positions, costs one byte a row)."""
    sel = codes == code
    sel &= mask
    return sel


def pick(values: np.ndarray, sel: np.ndarray) -> np.ndarray:
    """``values[sel]`` for a boolean ``sel`` (a new array in table order), by ``np.compress``: two to four times
    faster than boolean indexing when the selected rows are scattered, and without the GIL."""
    return np.compress(sel, values)


def parallel_map(fn: Callable[[T], R], items: Iterable[T], rows: int) -> list[R]:
    """``[fn(x) for x in items]``, on one thread per core when the table has ``rows`` >= :data:`PARALLEL_ROWS`.

    For work that spends its time in numpy calls that release the GIL; the results keep the items' order, so
    the output is the same whichever way it ran.
    """
    items = list(items)
    workers = min(len(items), os.cpu_count() or 1)
    if rows < PARALLEL_ROWS or workers < 2:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, items))


def window_starts(t: np.ndarray, window_s: float) -> tuple[int, np.ndarray] | None:
    """For ``t`` in time order: the first window ``floor(t / window_s)`` and where each window from it starts.

    ``(w0, starts)``: window ``w0 + i`` is ``t[starts[i]:starts[i + 1]]`` (``starts`` ends with ``t.size``; an
    empty window starts where the next does). None when ``t`` is not in order (or holds a NaN), or when the windows
    would be far more than the rows. Each start is found by bisection on the same ``floor(t[i] / window_s)`` the
    windows are defined by, so a sample at a window's edge lands where the per-row formula puts it.
    """
    n = t.size
    if n == 0 or not bool((t[1:] >= t[:-1]).all()) or np.isnan(t[0]):
        return None
    first, last = np.floor(t[[0, -1]] / window_s)
    if not (np.isfinite(first) and np.isfinite(last)) or last - first > max(1024, n // 256):
        return None
    w0, count = int(first), int(last - first) + 1
    want = np.arange(w0, w0 + count, dtype="float64")
    lo, hi = np.zeros(count, dtype="int64"), np.full(count, n, dtype="int64")
    while (lo < hi).any():  # the first row whose window is >= want (rows are in window order)
        mid = (lo + hi) // 2
        below = np.floor(t[np.minimum(mid, n - 1)] / window_s) < want
        below &= mid < n
        lo = np.where(below, mid + 1, lo)
        hi = np.where(below, hi, mid)
    return w0, np.append(lo, n)


def runs_of(keys: np.ndarray) -> Iterator[tuple[int, np.ndarray | slice]]:
    """Groups of equal integer ``keys``: (key, positions in table order: an index array or a slice), keys ascending.

    Keys already in order (a load run's windows, mostly) are cut where they change; otherwise a stable sort keeps
    each group in table order, and keys spanning fewer than 65,536 values are sorted as 16-bit integers, which
    numpy sorts by radix (linear time).
    """
    if keys.size == 0:
        return
    lo, hi = int(keys.min()), int(keys.max())
    if bool((keys[1:] >= keys[:-1]).all()):  # already in order (samples stored in time order): no sort at all
        bounds = np.flatnonzero(keys[1:] != keys[:-1]) + 1
        starts = np.concatenate([[0], bounds])
        ends = np.concatenate([bounds, [keys.size]])
        for a, b in zip(starts, ends, strict=True):
            yield int(keys[a]), slice(int(a), int(b))
        return
    if hi - lo < 2**16:
        order = np.argsort((keys - lo).astype("uint16"), kind="stable")
    else:
        order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    bounds = np.flatnonzero(np.diff(sorted_keys)) + 1
    starts = np.concatenate([[0], bounds])
    ends = np.concatenate([bounds, [keys.size]])
    for a, b in zip(starts, ends, strict=True):
        yield int(sorted_keys[a]), order[a:b]
