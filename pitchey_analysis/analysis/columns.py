"""The samples table as numpy columns, grouped without copying the frame (pure, numpy/pandas only).

At a hundred million samples a boolean index of the DataFrame, a ``groupby`` over
it or a metric column turned into Python strings each cost seconds and gigabytes;
these helpers take the few columns a summary needs as numpy arrays (the metric as
integer codes of a categorical) and hand out each group's values in their order
in the table, so that a summary made from them is the same, number for number, as
one made with a pandas ``groupby``.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd


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
