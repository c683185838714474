"""RateExplorer: one call on an image opens linked views driven by a rate slider.

Controls (ipywidgets 8): codec, task, explanation method, channel ordering (dropdowns); quality
(a slider over the codec's ladder); channel budget (send the first k latent channels under the
ordering); reset and export buttons; a progress bar while the ladder is computed in the
background. Views (anywidget, ``widgets/explorer.js``): original, decoded with the explanation
overlay, where the bits go, |error|, the numbers, top-5 before/after, and per-channel bars
where a click toggles a channel.

A state whose view is cached is shown at once (the slider's own callback); any other is computed
on a background thread, debounced, newest request first (:mod:`hmxai.ui.worker`). Views are
cached per (image, task, codec, quality, kept channels, method) in a process-wide cache bounded
in bytes (:mod:`hmxai.explore.cache`). Re-running the cell closes the explorer the cell made
before (JupyterLab and Voila tell the kernel which cell runs); :meth:`RateExplorer.close` does it by hand.
"""

from __future__ import annotations

import threading
import time
import traceback
import weakref
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from hmxai.errors import InvalidArgumentError, InvalidTypeError
from hmxai.explore.engine import (EXACT_METHOD, REFINED_METHOD, REFINED_TOP, ExplorerEngine, method_name,
                                  methods, quality_value)
from hmxai.scales import BITS_SCALE, ERROR_SCALE
from hmxai.types.explorer import ExplorerView

#: per notebook cell: the run that made its explorers and weak references to them, so that a
#: re-run of the cell closes them (explorers made by the same run live side by side)
_BY_CELL: Dict[str, Tuple[str, List["weakref.ref"]]] = {}


def _cell_run() -> Optional[Tuple[str, str]]:
    """(cell id, id of this run's execute request), or None outside a notebook front-end that sends them."""
    try:
        from IPython import get_ipython

        shell = get_ipython()
        kernel = getattr(shell, "kernel", None)
        parent = (kernel.get_parent("shell") if kernel is not None else None) or {}
        cell = parent.get("metadata", {}).get("cellId")
        run = parent.get("header", {}).get("msg_id")
        return (cell, run) if cell and run else None
    except Exception:  # not in a kernel, or an old one: no automatic closing
        return None


def _close_tree(widget) -> None:
    """Close a widget, its children and its layout and style models (ipywidgets keeps every
    open model in a global registry until it is closed)."""
    for child in getattr(widget, "children", ()):
        _close_tree(child)
    for part in ("layout", "style"):
        sub = getattr(widget, part, None)
        if sub is not None and hasattr(sub, "close"):
            sub.close()
    widget.close()


class RateExplorer:
    """Explore one image across rates, channel budgets and explanation methods.

    Args:
        image: anything :func:`hmxai.load_image` reads; default the embedded sample ``chelsea``
            (a tabby cat, 451x300, shipped by scikit-image: no download).
        codec: the codec shown first (default hmxai's zoo codec); ``codecs`` those offered
            (default: the zoo and every classical codec, all offline).
        quality: first quality (default: the middle of the codec's ladder).
        task: task model or registry name (default EfficientNet-Lite0, offline).
        method: explanation overlay, one of :func:`hmxai.explore.engine.methods` (aliases such as ``gradcam`` accepted).
        ordering: channel ordering of the budget slider (:data:`hmxai.explain.budget.ORDERINGS`); default
            ``bits`` (costliest first), which keeps the machine's decision longest (docs/channels.md);
            ``machine`` orders by single-channel importance, which predicts poorly what matters when
            few channels are sent.
        qualities: ``{codec: [qualities]}`` overriding the default ladders.
        export_dir: where the export button writes (PNG + PDF figure, JSON numbers).
        background: compute the whole ladder in the background at once (False: only what is asked).
        debounce: at most one uncached state starts per this many seconds while a slider is dragged
            (a single step starts at once).
        lime_samples: LIME's samples per view; channel_method: how the channel bars' importance is
            scored (default input-x-gradient, fast; ``ablation`` is exact and ~M decodes per rung).
    """

    def __init__(self, image=None, *, codec: Optional[str] = None, quality: Optional[int] = None, task=None,
                 method: str = "grad-cam", ordering: str = "bits", codecs: Optional[Sequence[str]] = None,
                 qualities: Optional[Dict[str, Sequence[int]]] = None, export_dir="hmxai-export",
                 background: bool = True, debounce: float = 0.08, lime_samples: int = 300,
                 channel_method: str = "input-x-gradient"):
        import ipywidgets as w

        from hmxai.explain.budget import ORDERINGS
        from hmxai.tasks import TASKS

        if image is None:
            from hmxai.samples import sample_image

            image = sample_image("chelsea")
        method = method_name(method)
        if ordering not in ORDERINGS:
            raise InvalidArgumentError(f"ordering must be one of {', '.join(ORDERINGS)}, not {ordering!r}")
        self._image = image
        self._engine_kwargs = dict(codecs=codecs, qualities=qualities, lime_samples=lime_samples,
                                   channel_method=channel_method)
        self.engine = ExplorerEngine(image, task, **self._engine_kwargs)
        codec = codec or self.engine.codecs[0]
        if codec not in self.engine.codecs:
            raise InvalidArgumentError(f"codec {codec!r} is not offered; choose one of {', '.join(self.engine.codecs)}")
        ladder = self.engine.qualities(codec)
        if quality is None:
            quality = ladder[len(ladder) // 2]
        if quality not in ladder:
            raise InvalidArgumentError(f"{codec} quality {quality} is not on its ladder {list(ladder)}")
        self.export_dir = Path(export_dir)
        self.background = background
        self.toggled: set = set()
        self.view: Optional[ExplorerView] = None
        self.last_error: Optional[str] = None
        self.exported: List[str] = []
        self._lock = threading.RLock()
        self._closed = False
        self._shown = None  # the state on screen
        self._prepared: set = set()
        self._refining: set = set()  # (engine, codec, quality) whose exact scores are queued
        self._muted = False

        from hmxai.ui.widgets import ChannelBars, ViewPanel
        from hmxai.ui.worker import Worker

        self.worker = Worker(debounce, on_error=self._report_error)
        offline = [n for n in TASKS.names() if TASKS.entry(n).facts.get("offline")]
        tasks = list(dict.fromkeys([self.engine.task.name] + offline))
        style = {"description_width": "initial"}
        self.codec = w.Dropdown(options=list(self.engine.codecs), value=codec, description="codec", style=style)
        self.task = w.Dropdown(options=tasks, value=self.engine.task.name, description="task", style=style)
        self.method = w.Dropdown(options=list(methods()), value=method, description="explanation", style=style)
        self.ordering = w.Dropdown(options=list(ORDERINGS), value=ordering, description="channel order", style=style)
        self.quality = w.SelectionSlider(options=list(ladder), value=quality, description="quality",
                                         continuous_update=True, style=style, layout=w.Layout(width="360px"))
        m = self.engine.num_channels(codec) or 0
        self.budget = w.IntSlider(value=m, min=0, max=max(m, 1), description="channels sent", disabled=not m,
                                  continuous_update=True, style=style, layout=w.Layout(width="360px"))
        self.reset = w.Button(description="reset channels", tooltip="send every channel, clear toggles")
        self.export_button = w.Button(description="export",
                                      tooltip=f"save the view as PNG + PDF and its numbers as JSON in {self.export_dir}/")
        self.progress = w.IntProgress(value=0, min=0, max=1, description="ladder", style=style,
                                      layout=w.Layout(width="260px"))
        self.message = w.Label("")
        self.panel = ViewPanel(original=self.engine.original_png, scales={"error": ERROR_SCALE, "bits": BITS_SCALE})
        self.bars = ChannelBars(ordering=ordering)
        self.widget = w.VBox([
            w.HBox([self.codec, self.task, self.method, self.ordering]),
            w.HBox([self.quality, self.budget, self.reset]),
            self.panel, self.bars,
            w.HBox([self.progress, self.export_button, self.message]),
        ], layout=w.Layout(width="100%"))
        self.widget.add_class("hmx-explorer")

        for control in (self.quality, self.budget, self.method, self.ordering):
            control.observe(self._on_state, names="value")
        self.codec.observe(self._on_codec, names="value")
        self.task.observe(self._on_task, names="value")
        self.reset.on_click(self._on_reset)
        self.export_button.on_click(self._export_clicked)
        self.bars.on_msg(self._on_message)

        here = _cell_run()
        if here is not None:
            cell, run = here
            previous_run, refs = _BY_CELL.get(cell, (run, []))
            if previous_run != run:  # the cell runs again: close what its earlier run made
                for ref in refs:
                    old = ref()
                    if old is not None:
                        old.close()
                refs = []
            _BY_CELL[cell] = (run, [r for r in refs if r() is not None] + [weakref.ref(self)])
        self._request()
        if background:
            self._prepare(codec)

    # ------------------------------------------------------------------ state
    def state(self) -> tuple:
        """(codec, quality, budget or None for all, ordering, toggled, method, engine) of the controls;
        the engine (image + task) is part of it, so nothing an old task computed is shown after a swap."""
        m = self.engine.num_channels(self.codec.value)
        budget = None if not m or self.budget.value >= m else int(self.budget.value)
        return (self.codec.value, quality_value(self.quality.value), budget, self.ordering.value,
                tuple(sorted(self.toggled)), self.method.value, id(self.engine))

    def _kept(self, state: tuple):
        codec, quality, budget, ordering, toggled, _, _ = state
        if not self.engine.is_learned(codec) or (budget is None and not toggled):
            return None
        return self.engine.kept(codec, quality, budget, ordering, toggled)

    def _cached(self, state: tuple) -> Optional[ExplorerView]:
        codec, quality, budget, ordering, toggled, method, _ = state
        if not self.engine.has_rung(codec, quality):  # showing a view reads the rung's channel order
            return None
        view = self.engine.peek(codec, quality, self._kept(state), method)
        if view is None or self.engine.peek_images(view) is None:
            return None
        return view

    def _request(self) -> None:
        """Show the controls' state: at once if cached, else computed in the background."""
        if self._closed:
            return
        with self._lock:  # the worker's _apply checks and shows under the same lock
            state = self.state()
            view = self._cached(state)
            if view is not None:
                self._apply(state, view)
                return
            self.panel.status = "computing…"
            self.worker.latest(lambda: self._compute(state))

    def _compute(self, state: tuple) -> None:
        if self._closed or state != self.state():
            return  # a newer state was asked for meanwhile; its own request runs
        codec, quality, _, _, _, method, _ = state
        start = time.perf_counter()
        kept = self._kept(state)
        if method != "none":  # first the decoded image, rates and top-5, then the explanation over it
            base = self.engine.view(codec, quality, kept, "none")
            self.engine.images(base)
            if state != self.state():
                return
            self._apply(state, base, time.perf_counter() - start, partial=True)
        view = self.engine.view(codec, quality, kept, method)
        self.engine.images(view)  # rendered here, in the background, not under the UI's lock
        self._apply(state, view, time.perf_counter() - start)

    def _apply(self, state: tuple, view: ExplorerView, seconds: Optional[float] = None, partial: bool = False) -> None:
        """Show ``view`` (a partial one still lacks the explanation, which follows)."""
        from hmxai.ui.widgets import f32, i32, u8

        with self._lock:
            if self._closed or state != self.state():
                return  # the controls moved on: the newer state is shown or on its way
            self.view = view
            images = self.engine.images(view)  # cached by whoever computed the view
            codec, quality, _, ordering, _, method, _ = state
            with self.panel.hold_sync():
                self.panel.decoded = images.decoded
                self.panel.overlay = images.overlay or b""  # partial: none until the explanation comes
                self.panel.bitmap = images.bitmap or b""
                self.panel.bitmap_cell = images.bitmap_cell or 0
                self.panel.error = images.error
                self.panel.numbers = view.to_dict()
                self.panel.status = "" if self.worker.idle or seconds is None else self.panel.status
            with self.bars.hold_sync():
                if view.num_channels:
                    kept = [1] * view.num_channels if view.kept is None else [0] * view.num_channels
                    for c in view.kept or ():
                        kept[c] = 1
                    self.bars.bits = f32(view.channel_bits)
                    self.bars.machine = f32(view.machine)
                    self.bars.human = f32(view.human)
                    self.bars.order = i32(self.engine.order(codec, quality, ordering))
                    self.bars.kept = u8(kept)
                else:
                    self.bars.bits = self.bars.machine = self.bars.human = self.bars.order = self.bars.kept = b""
                self.bars.ordering = ordering
                self._label_scores(codec, quality, view)
            if partial:
                self.panel.status = f"explaining ({method})…"
                return
            self._shown = state
            if seconds is not None:
                self.panel.status = ""
                self.message.value = f"computed in {seconds:.2f} s"
            self._refine(codec, quality, view)

    # ------------------------------------------------------------------ exact channel scores
    def _label_scores(self, codec, quality, view: ExplorerView) -> None:
        method = view.scores_method or ""
        self.bars.method = method
        if not method:
            self.bars.scores = ""
        elif method == EXACT_METHOD:
            self.bars.scores = "machine and human importance: exact (each channel removed, both effects measured)"
        elif method in (self.engine.channel_method, REFINED_METHOD) and self.background:
            done, total = self.engine.refine_progress(codec, quality)
            what = (f"exact for the {REFINED_TOP} channels ranked highest, estimated for the rest"
                    if method == REFINED_METHOD else f"{method} estimate")
            self.bars.scores = (f"machine and human importance: {what}; exact ablation running "
                                f"({done}/{total} channel groups)")
        else:
            self.bars.scores = f"machine and human importance: {method}"

    def _refine(self, codec, quality, view: ExplorerView) -> None:
        """Queue the exact scores of the rung on screen, ahead of the ladder, a few channels a job."""
        if not self.background or view.scores_method in (None, EXACT_METHOD):
            return
        engine = self.engine
        key = (id(engine), codec, quality)
        if key in self._refining:
            return
        self._refining.add(key)
        chunks = engine.exact_chunks(codec, quality)
        self.worker.sooner([lambda ch=ch: self._refine_chunk(engine, codec, quality, ch) for ch in chunks])

    def _refine_chunk(self, engine, codec, quality, chunk) -> None:
        if self._closed or engine is not self.engine:
            return
        before = engine.scores_method(codec, quality)
        engine.refine(codec, quality, chunk)
        changed = engine.scores_method(codec, quality) != before
        with self._lock:
            on_screen = (self.codec.value, quality_value(self.quality.value)) == (codec, quality)
            if on_screen and not changed and self.view is not None:
                self._label_scores(codec, quality, self.view)  # progress under the bars
        if changed and on_screen:
            self._request()  # the bars, the order and the budget's channels follow the better scores

    # ------------------------------------------------------------------ events
    def _on_state(self, change) -> None:
        if not self._muted:
            self._request()

    def _on_codec(self, change) -> None:
        codec = change["new"]
        ladder = self.engine.qualities(codec)
        m = self.engine.num_channels(codec) or 0
        self.toggled.clear()
        with self._hold():
            kept, same = self.quality.value, list(self.quality.options) == list(ladder)
            self.quality.options = list(ladder)  # flipping between codecs of one ladder keeps the quality
            self.quality.value = kept if same else ladder[len(ladder) // 2]
            self.budget.max = max(m, 1)
            self.budget.value = m
            self.budget.disabled = not m
            self.ordering.disabled = not m
            self.reset.disabled = not m
        self._request()
        if self.background:
            self._prepare(codec)

    def _on_task(self, change) -> None:
        if self._muted:
            return
        self.worker.cancel_jobs()
        self._prepared.clear()
        self.panel.status = f"loading {change['new']}…"

        def job():
            try:
                engine = ExplorerEngine(self._image, change["new"], **self._engine_kwargs)
            except BaseException:
                with self._hold():  # the dropdown says which task the views come from
                    self.task.value = change["old"]
                self._request()
                raise
            with self._lock:
                self.engine = engine
                self.panel.original = engine.original_png
            self._request()
            if self.background:
                self._prepare(self.codec.value)

        self.worker.later(job)

    def _on_reset(self, _=None) -> None:
        self.toggled.clear()
        m = self.engine.num_channels(self.codec.value) or 0
        with self._hold():
            self.budget.value = m
        self._request()

    def _on_message(self, widget, content, buffers) -> None:
        if isinstance(content, dict) and content.get("type") == "toggle":
            self.toggle(int(content["channel"]))

    def toggle(self, channel: int) -> None:
        """Flip one latent channel between sent and dropped (what a click on its bar does)."""
        m = self.engine.num_channels(self.codec.value)
        if not m:
            raise InvalidArgumentError(f"{self.codec.value} is a classical codec: it has no latent channels")
        if not 0 <= channel < m:
            raise InvalidArgumentError(f"channel {channel} is not a latent channel (0..{m - 1})")
        self.toggled ^= {channel}
        self._request()

    @contextmanager
    def _hold(self):
        """Change several controls without a request for each."""
        self._muted = True
        try:
            yield
        finally:
            self._muted = False

    # ------------------------------------------------------------------ background ladder
    def _prepare(self, codec: str) -> None:
        if codec in self._prepared:
            return
        self._prepared.add(codec)
        qs = list(self.engine.qualities(codec))
        self.progress.max, self.progress.value = len(qs), 0
        self.progress.description = f"{codec}"
        first = quality_value(self.quality.value) if self.codec.value == codec else None
        if first in qs:
            qs.remove(first)
            qs.insert(0, first)
        for q in qs:
            self.worker.later(lambda q=q: self._prepare_rung(codec, q))

    def _prepare_rung(self, codec: str, quality: int) -> None:
        if self._closed:
            return
        method = self.method.value
        self.engine.images(self.engine.view(codec, quality, None, method))
        self.progress.value = min(self.progress.max, self.progress.value + 1)
        if (self.codec.value, quality_value(self.quality.value)) == (codec, quality) and self._shown != self.state():
            self._request()

    # ------------------------------------------------------------------ public
    def set(self, **values) -> "RateExplorer":
        """Move controls from code: ``set(quality=5, budget=20, method="hires-cam")``."""
        controls = {"codec": self.codec, "quality": self.quality, "budget": self.budget, "method": self.method,
                    "ordering": self.ordering, "task": self.task}
        unknown = set(values) - set(controls)
        if unknown:
            raise InvalidTypeError(f"unknown control(s) {sorted(unknown)}; known: {sorted(controls)}")
        for key in ("task", "codec", "ordering", "method", "quality", "budget"):
            if key in values:
                controls[key].value = values[key]
        return self

    def wait(self, timeout: Optional[float] = 600) -> "RateExplorer":
        """Block until the background work is done (for scripts, tests and notebooks run headless)."""
        if not self.worker.wait(timeout):
            raise TimeoutError(f"the explorer was still computing after {timeout} s")
        error, self.last_error = self.last_error, None
        if error:
            raise RuntimeError(f"the explorer failed in the background:\n{error}")
        return self

    def export(self, directory=None, stem: Optional[str] = None) -> List[str]:
        """Save the current view as a figure (PNG and PDF) and its numbers as JSON; returns the paths."""
        from hmxai.explore.export import export_view

        view = self.view
        if view is None:
            raise RuntimeError("nothing to export yet: the first view is still being computed (see .wait())")
        self.exported = export_view(view, self.engine.x, directory or self.export_dir, stem)
        return self.exported

    def _export_clicked(self, _=None) -> None:
        """The view on screen at the click, written at once (not queued behind the ladder)."""
        try:
            paths = self.export()
        except Exception as exc:
            self.message.value = f"export failed: {exc}"
            return
        self.message.value = f"saved in {Path(paths[0]).parent}: " + ", ".join(Path(p).name for p in paths)

    def _report_error(self, exc: BaseException) -> None:
        self.last_error = "".join(traceback.format_exception(exc))
        if not self._closed:
            self.panel.status = f"error: {exc}"
            self.message.value = f"error: {type(exc).__name__}: {exc}"

    def close(self) -> None:
        """Stop the background thread and close every widget (the cache keeps the views)."""
        if self._closed:
            return
        self._closed = True
        self.worker.close()
        _close_tree(self.widget)

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        return f"RateExplorer(codec={self.codec.value!r}, quality={self.quality.value}, method={self.method.value!r})"
