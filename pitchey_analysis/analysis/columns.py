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
import queue
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np
import pandas as pd

T = TypeVar("T")
R = TypeVar("R")

#: Tables of at least this many rows are summarized on several threads (numpy's sort, partition and compress run
#: without the GIL); below it the threads cost more than they save.
PARALLEL_ROWS = 1 << 20


def ok_flags(samples: pd.DataFrame) -> np.ndarray:
    """The ``ok`` column as a numpy bool array (the column itself when it is one; a missing ok is not ok)."""
    ok = samples["ok"]
    if ok.dtype == bool:
        flags: np.ndarray = ok.to_numpy()
        return flags
    flags = (ok == True).to_numpy(dtype=bool, na_value=False)  # noqa: E712  (nullable boolean or object)
    return flags


def ok_mask(samples: pd.DataFrame) -> np.ndarray:
    """The rows a latency figure uses: ``ok`` is True and ``value_ms`` is a number (a numpy bool array)."""
    return usable(ok_flags(samples), samples["value_ms"].to_numpy(dtype="float64"))


def usable(ok: np.ndarray, value: np.ndarray) -> np.ndarray:
    """``ok & ~isnan(value)`` as one new array (the rest in place)."""
    out: np.ndarray = np.isnan(value)
    np.logical_not(out, out=out)
    out &= ok
    return out


def metric_codes(samples: pd.DataFrame) -> tuple[np.ndarray, list[Any]]:
    """Integer codes of the ``metric`` column (-1: missing) and the values they stand for (a categorical's codes, no
    copy of its strings)."""
    m = samples["metric"]
    if isinstance(m.dtype, pd.CategoricalDtype):
        return m.cat.codes.to_numpy(), list(m.cat.categories)
    codes, names = pd.factorize(m, use_na_sentinel=True)
    return codes, list(names)


def where(codes: np.ndarray, code: int, mask: np.ndarray) -> np.ndarray:
    """The masked rows with this code, as a boolean array (indexing with it keeps table order and, unlike
    row positions, costs one byte a row)."""
    sel: np.ndarray = codes == code
    sel &= mask
    return sel


def map_codes(
    fn: Callable[[int, np.ndarray], R],
    codes: np.ndarray,
    ok: np.ndarray,
    values: np.ndarray,
    n_codes: int,
    *,
    step: int = 1 << 18,
) -> list[R]:
    """``fn(code, v)`` for every code present where ``ok`` and ``values`` is a number, ``v`` being those rows' values in
    table order (``values[ok & ~isnan(values) & (codes == code)]``); codes in the order they first appear (a
    ``groupby(sort=False)``'s).

    ``v`` is lent, not given: ``fn`` may reorder it in place but must not keep it, for it is a stretch of a buffer
    used again for the next code. At a hundred million rows the first touch of new memory costs more than the
    work (above a second a gigabyte on a virtual machine), so each thread fills one buffer, code after code,
    instead of a new array per code; and the table is walked in cache-sized stretches, so no full-length mask or
    index array is made. The rows of each stretch are counted per code first (which gives the sizes and the order
    of first appearance). On both cores for large tables.
    """
    n = values.size
    starts = list(range(0, n, step))
    parallel = n >= PARALLEL_ROWS

    def stretch(a: int) -> tuple[np.ndarray, np.ndarray]:
        return codes[a : a + step], usable(ok[a : a + step], values[a : a + step])

    def count(block: list[int]) -> np.ndarray:
        counts = np.zeros((len(block), n_codes), dtype="int64")
        for i, a in enumerate(block):
            c, m = stretch(a)
            sel = np.empty(c.size, dtype=bool)
            for code in range(n_codes):
                np.equal(c, code, out=sel)
                sel &= m
                counts[i, code] = np.count_nonzero(sel)
        return counts

    blocks = [starts[i : i + 16] for i in range(0, len(starts), 16)] if parallel else [starts]  # 4 M rows a task
    counts = np.concatenate(parallel_map(count, blocks, n)) if starts else np.zeros((0, n_codes), dtype="int64")
    totals = counts.sum(axis=0)
    first = {}
    for code in np.flatnonzero(totals):
        a = starts[int(np.argmax(counts[:, code] > 0))]
        c, m = stretch(a)
        first[int(code)] = a + int(np.argmax((c == code) & m))
    order = sorted(first, key=first.__getitem__)
    spare: queue.SimpleQueue[np.ndarray] = queue.SimpleQueue()  # one buffer a thread, each as long as the largest group
    for _ in range(min(len(order), cores()) if parallel else 1):
        spare.put(np.empty(int(totals.max(initial=0)), dtype=values.dtype))

    def one(code: int) -> R:
        buf = spare.get()
        try:
            at = 0
            for i in np.flatnonzero(counts[:, code]):
                c, m = stretch(starts[i])
                m &= c == code
                k = int(counts[i, code])
                np.compress(m, values[starts[i] : starts[i] + step], out=buf[at : at + k])
                at += k
            return fn(code, buf[:at])
        finally:
            spare.put(buf)

    return parallel_map(one, order, n)


def pick(values: np.ndarray, sel: np.ndarray) -> np.ndarray:
    """``values[sel]`` for a boolean ``sel`` (a new array in table order), by ``np.compress``: two to four times
    faster than boolean indexing when the selected rows are scattered, and without the GIL."""
    return np.compress(sel, values)


def cores() -> int:
    """The cores this process may run on (its CPU affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def parallel_map(fn: Callable[[T], R], items: Iterable[T], rows: int) -> list[R]:
    """``[fn(x) for x in items]``, on one thread per core when the table has ``rows`` >= :data:`PARALLEL_ROWS`.

    For work that spends its time in numpy calls that release the GIL; the results keep the items' order, so
    the output is the same whichever way it ran.
    """
    items = list(items)
    workers = min(len(items), cores())
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
