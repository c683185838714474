"""One background thread per explorer, alive only while it has work.

* :meth:`Worker.latest` keeps only the newest request and starts requests at most once per
  ``debounce`` seconds: a single slider step runs at once, a slider dragged across ten values runs
  the first and then the newest value each time the one before is done and ``debounce`` has passed;
* :meth:`Worker.later` queues background jobs (the ladder, one rung a job), which yield to the
  newest request between jobs; :meth:`Worker.sooner` puts jobs at the front of that queue (the
  exact channel scores of the rung on screen, a few channels a job).

The thread stays for ``linger`` seconds after its last job (a new thread per request would make
torch start a new OpenMP thread team each time, which costs tens of milliseconds and makes the
first passes slow) and then exits; :meth:`Worker.close` ends it at once, so a closed or re-run
explorer leaves no thread behind.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Callable, Optional


class Worker:
    def __init__(self, debounce: float = 0.08, on_error: Optional[Callable[[BaseException], None]] = None,
                 linger: float = 60.0):
        self.debounce = float(debounce)
        self.linger = float(linger)
        self.on_error = on_error
        self._cond = threading.Condition()
        self._latest: Optional[tuple] = None
        self._jobs: deque = deque()
        self._thread: Optional[threading.Thread] = None
        self._busy = False
        self._closed = False
        self._last_start = float("-inf")

    def latest(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` now, or ``debounce`` seconds after the previous request started, unless a newer
        request replaces it meanwhile."""
        with self._cond:
            if self._closed:
                return
            self._latest = (max(time.monotonic(), self._last_start + self.debounce), fn)
            self._start()

    def later(self, fn: Callable[[], None]) -> None:
        """Queue a background job (runs after pending newest requests)."""
        with self._cond:
            if self._closed:
                return
            self._jobs.append(fn)
            self._start()

    def sooner(self, fns) -> None:
        """Queue background jobs ahead of the others, in the order given (still after newest requests)."""
        with self._cond:
            if self._closed:
                return
            for fn in reversed(list(fns)):
                self._jobs.appendleft(fn)
            self._start()

    def cancel_jobs(self) -> None:
        with self._cond:
            self._jobs.clear()

    def _start(self) -> None:
        if self._closed:
            return
        self._cond.notify_all()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="hmxai-explorer", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._busy = False
                self._cond.notify_all()
                idle_since = time.monotonic()
                while True:
                    if self._closed or (self._latest is None and not self._jobs):
                        left = idle_since + self.linger - time.monotonic()
                        if self._closed or left <= 0:
                            self._thread = None
                            self._cond.notify_all()
                            return
                        self._cond.wait(left)
                        continue
                    if self._latest is not None:
                        due, fn = self._latest
                        wait = due - time.monotonic()
                        if wait > 0:
                            self._cond.wait(wait)
                            continue
                        self._latest = None
                        self._last_start = time.monotonic()
                    else:
                        fn = self._jobs.popleft()
                    self._busy = True
                    break
            try:
                fn()
            except BaseException as exc:  # reported, never kills the worker
                try:
                    if self.on_error is not None:
                        self.on_error(exc)
                except BaseException:  # a failing reporter must not leave the worker busy forever
                    pass

    @property
    def idle(self) -> bool:
        """No job running or waiting (the thread itself may still linger)."""
        with self._cond:
            return not self._busy and self._latest is None and not self._jobs

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Block until all work is done (True) or ``timeout`` seconds passed (False)."""
        end = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._busy or self._latest is not None or self._jobs:
                left = None if end is None else end - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left if left is not None else 0.5)
        return True

    def close(self, timeout: float = 30.0) -> None:
        """Drop pending work and let the thread end (after its current job)."""
        with self._cond:
            self._closed = True
            self._latest = None
            self._jobs.clear()
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
