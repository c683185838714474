"""A least-recently-used cache bounded by bytes, shared by every explorer in the process.

Re-running a notebook cell builds a new explorer on the same image: it finds the views the
old one computed (keys hold the image's and the models' fingerprints), and the memory held
stays under ``limit_bytes`` however often the cell runs.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Callable, Hashable, Optional

from hmxai.errors import InvalidArgumentError


def size_of(value: Any) -> int:
    """Bytes held by a cached value: its ``nbytes`` if it says, else 1 KiB."""
    n = getattr(value, "nbytes", None)
    return int(n) if isinstance(n, int) else 1024


class ByteLRU:
    """Thread-safe LRU mapping; evicts the least recently used entries beyond ``limit_bytes``."""

    def __init__(self, limit_bytes: int = 512 * 2**20):
        if limit_bytes <= 0:
            raise InvalidArgumentError("limit_bytes must be positive")
        self.limit_bytes = limit_bytes
        self._data: "OrderedDict[Hashable, tuple]" = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: Hashable) -> Optional[Any]:
        with self._lock:
            item = self._data.get(key)
            if item is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return item[0]

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._data

    def put(self, key: Hashable, value: Any) -> Any:
        size = size_of(value)
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._data[key] = (value, size)
            self._bytes += size
            while self._bytes > self.limit_bytes and len(self._data) > 1:
                _, (_, s) = self._data.popitem(last=False)
                self._bytes -= s
        return value

    def get_or_compute(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        value = self.get(key)
        return value if value is not None else self.put(key, compute())

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._bytes = 0

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._data)


#: the process-wide cache of rungs and views
CACHE = ByteLRU()
