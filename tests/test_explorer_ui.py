"""RateExplorer without a browser: controls drive the view model, clicks toggle channels, the worker
debounces, export writes files, and closing or re-running a cell leaves nothing behind."""

from __future__ import annotations

import gc
import json
import threading
import time
import weakref

import numpy as np
import pytest

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def image():
    from hmxai.samples import sample_image
    from hmxai.images import fit_within as fit

    return fit(sample_image("chelsea"), 96)


@pytest.fixture(scope="module")
def task():
    from hmxai.tasks import create_task

    return create_task("efficientnet-lite0")


def _explorer(image, task, **kw):
    from hmxai.ui import RateExplorer

    kw.setdefault("codecs", ["hmxai-msh", "jpeg"])
    kw.setdefault("qualities", {"jpeg": [10, 40]})
    return RateExplorer(image, task=task, **kw)


def test_quality_slider_updates_the_linked_views(image, task, tmp_path):
    e = _explorer(image, task, export_dir=tmp_path)
    try:
        e.wait()
        assert e.progress.value == e.progress.max == 5
        assert e.panel.original.startswith(PNG) and e.panel.decoded.startswith(PNG)
        before = (e.panel.numbers["measured_bpp"], e.panel.decoded)
        e.quality.value = 5  # cached by the background ladder: shown by the slider's own callback
        assert e.panel.numbers["quality"] == 5 and e.view.quality == 5
        assert e.panel.numbers["measured_bpp"] > before[0] and e.panel.decoded != before[1]
        assert len(e.bars.bits) == 4 * 96 and len(e.bars.kept) == 96 and set(e.bars.kept) == {1}
        order = np.frombuffer(e.bars.order, dtype="<i4")
        assert sorted(order.tolist()) == list(range(96))
        bits = np.frombuffer(e.bars.bits, dtype="<f4")
        np.testing.assert_allclose(bits, e.view.channel_bits, rtol=1e-6)
    finally:
        e.close()


def test_budget_click_and_reset(image, task):
    e = _explorer(image, task)
    try:
        e.wait()
        e.budget.value = 30
        e.wait()
        assert e.panel.numbers["channels_kept"] == 30
        first_sent = int(np.frombuffer(e.bars.order, dtype="<i4")[0])
        e.bars._handle_custom_msg({"type": "toggle", "channel": first_sent}, [])  # a click on its bar
        e.wait()
        kept = np.frombuffer(e.bars.kept, dtype=np.uint8)
        assert e.panel.numbers["channels_kept"] == 29 and kept[first_sent] == 0 and kept.sum() == 29
        e._on_reset()
        e.wait()
        assert e.panel.numbers["channels_kept"] == 96 and e.toggled == set()
        with pytest.raises(ValueError):
            e.toggle(96)
    finally:
        e.close()


def test_classical_codec_disables_the_channel_controls(image, task):
    e = _explorer(image, task, background=False)
    try:
        e.set(codec="jpeg").wait()
        assert list(e.quality.options) == [10, 40] and e.budget.disabled and e.ordering.disabled
        assert e.panel.numbers["codec"] == "jpeg" and e.panel.numbers["estimated_bpp"] is None
        assert e.bars.bits == b"" and e.panel.bitmap == b""
        with pytest.raises(ValueError, match="classical"):
            e.toggle(0)
    finally:
        e.close()


def test_export_writes_figure_and_numbers(image, task, tmp_path):
    from PIL import Image

    e = _explorer(image, task, export_dir=tmp_path, background=False)
    try:
        e.set(budget=40).wait()
        paths = e.export()
        assert sorted(p.rsplit(".", 1)[1] for p in paths) == ["json", "pdf", "png"]
        numbers = json.loads(open(next(p for p in paths if p.endswith(".json"))).read())
        view = e.view.to_dict()
        for key in ("measured_bpp", "estimated_bpp", "psnr", "ms_ssim", "channels_kept", "top5_decoded"):
            assert numbers[key] == view[key]
        assert Image.open(next(p for p in paths if p.endswith(".png"))).size[0] > 500
        assert open(next(p for p in paths if p.endswith(".pdf")), "rb").read(5) == b"%PDF-"
        assert not __import__("matplotlib.pyplot").pyplot.get_fignums()
    finally:
        e.close()


def test_closing_leaves_no_thread_widget_hook_or_reference(image, task):
    from ipywidgets.widgets.widget import _instances as open_widgets

    threads, widgets = threading.active_count(), len(open_widgets)
    training = [m.training for m in task.modules()]
    e = _explorer(image, task)
    e.set(method="hires-cam")
    e.wait()
    ref = weakref.ref(e)
    e.close()
    del e
    gc.collect()
    time.sleep(0.2)
    assert ref() is None
    assert threading.active_count() == threads
    assert len(open_widgets) == widgets
    assert all(not m._forward_hooks and not m._backward_hooks and not m._forward_pre_hooks for m in task.modules())
    assert [m.training for m in task.modules()] == training


def test_explorers_made_and_closed_again_and_again_do_not_accumulate(image, task):
    """What re-running a cell ten times does: the cache stays bounded and no explorer survives."""
    from hmxai.explore.cache import CACHE
    from ipywidgets.widgets.widget import _instances as open_widgets

    refs, sizes = [], []
    for _ in range(4):
        e = _explorer(image, task, background=False)
        e.wait()
        refs.append(weakref.ref(e))
        e.close()
        del e
        gc.collect()
        sizes.append((len(CACHE), len(open_widgets)))
    assert all(r() is None for r in refs)
    assert len(set(sizes)) == 1, sizes  # same cached views (reused), same open widgets after each round


def test_rerunning_a_cell_closes_the_explorers_it_made(image, task, monkeypatch):
    from hmxai.ui import explorer as module

    monkeypatch.setattr(module, "_cell_run", lambda: ("cell-7", "run-1"))
    first = _explorer(image, task, background=False)
    second = _explorer(image, task, background=False)  # same run of the cell: both live
    monkeypatch.setattr(module, "_cell_run", lambda: ("cell-7", "run-2"))
    third = _explorer(image, task, background=False)
    try:
        assert first._closed and second._closed and not third._closed
        assert first.panel.comm is None and second.panel.comm is None  # closed widgets
        third.wait()
        assert third.view is not None
    finally:
        third.close()


def test_bad_arguments_fail_before_any_widget(image, task):
    with pytest.raises(ValueError, match="method"):
        _explorer(image, task, method="saliency")
    with pytest.raises(ValueError, match="ordering"):
        _explorer(image, task, ordering="alphabetical")
    with pytest.raises(ValueError, match="not offered"):
        _explorer(image, task, codec="webp")
    with pytest.raises(ValueError, match="ladder"):
        _explorer(image, task, codec="jpeg", quality=11)
    with pytest.raises(TypeError, match="unknown control"):
        e = _explorer(image, task, background=False)
        try:
            e.set(speed=3)
        finally:
            e.close()


def test_worker_runs_sooner_jobs_before_queued_ones_and_after_the_newest_request():
    from hmxai.ui.worker import Worker

    ran = []
    w = Worker(debounce=0, linger=0)
    gate, started = threading.Event(), threading.Event()
    w.later(lambda: started.set() or (gate.wait(5) and ran.append("running")))
    assert started.wait(5)
    w.later(lambda: ran.append("ladder 1"))
    w.later(lambda: ran.append("ladder 2"))
    w.sooner([lambda: ran.append("exact 1"), lambda: ran.append("exact 2")])
    w.latest(lambda: ran.append("slider"))
    gate.set()
    assert w.wait(10)
    assert ran == ["running", "slider", "exact 1", "exact 2", "ladder 1", "ladder 2"]
    w.close()


def test_explorer_replaces_fast_bars_by_exact_ones_in_the_background(image):
    from hmxai.ui import RateExplorer

    e = RateExplorer(image, codec="hmxai-msh", quality=2, codecs=["hmxai-msh"])
    try:
        e.wait(600)
        assert e.view.scores_method == "ablation" and e.bars.method == "ablation"
        assert "exact" in e.bars.scores
        r = e.engine.rung("hmxai-msh", 2)
        assert np.frombuffer(e.bars.machine, "<f4").tolist() == list(np.float32(r.channel_lists[1]))
        assert np.frombuffer(e.bars.order, "<i4").tolist() == list(e.engine.order("hmxai-msh", 2, "bits"))
        e.set(ordering="machine", budget=8)
        e.wait(600)
        assert e.view.kept == tuple(sorted(e.engine.order("hmxai-msh", 2, "machine")[:8]))
        assert e.view.scores_method == "ablation"
    finally:
        e.close()


def test_worker_debounces_to_the_newest_request_and_exits_when_idle():
    from hmxai.ui.worker import Worker

    ran, errors = [], []
    w = Worker(debounce=0.2, on_error=errors.append, linger=0)
    gate, started = threading.Event(), threading.Event()
    w.latest(lambda: started.set() or (gate.wait(5) and ran.append("first")))  # a single step runs at once
    assert started.wait(5)  # the first step is running (no sleep: a loaded CPU cannot make this flaky)
    for i in range(10):  # a drag while the first runs: only the newest survives
        w.latest(lambda i=i: ran.append(i))
    w.later(lambda: ran.append("job"))
    gate.set()
    assert w.wait(10)
    assert ran == ["first", 9, "job"]
    end = time.monotonic() + 5
    while any(t.name == "hmxai-explorer" for t in threading.enumerate()) and time.monotonic() < end:
        time.sleep(0.01)
    assert w.idle and not any(t.name == "hmxai-explorer" for t in threading.enumerate())
    w.later(lambda: 1 / 0)
    assert w.wait(10) and isinstance(errors[0], ZeroDivisionError)
    w.close()
    w.later(lambda: ran.append("after close"))
    w.latest(lambda: ran.append("after close"))
    assert w.wait(1) and "after close" not in ran  # refused at once, nothing left waiting
    broken = Worker(debounce=0, on_error=lambda exc: 1 / 0, linger=0)
    broken.later(lambda: 1 / 0)
    broken.later(lambda: ran.append("still working"))
    assert broken.wait(10) and ran[-1] == "still working"


def test_background_errors_are_shown_and_raised_by_wait(image, task, monkeypatch):
    e = _explorer(image, task, background=False)
    try:
        e.wait()
        monkeypatch.setattr(e.engine, "view", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom")))
        e.budget.value = 10
        with pytest.raises(RuntimeError, match="boom"):
            e.wait()
        assert "boom" in e.panel.status and "boom" in e.message.value
        e.wait()  # the error was reported once; later waits see later work only
    finally:
        e.close()


def test_app_settings_travel_through_the_environment(tmp_path):
    from hmxai.ui.app import NOTEBOOK, app_environment, explorer_from_env, voila_command

    env = app_environment({"codec": "jpeg", "quality": 40, "max_side": 80, "image": None},
                          base={"PATH": "/bin", "HMXAI_APP_METHOD": "lime"})
    from hmxai.ui.app import TEMPLATES

    assert env == {"PATH": "/bin", "HMXAI_APP_CODEC": "jpeg", "HMXAI_APP_QUALITY": "40", "HMXAI_APP_MAX_SIDE": "80",
                   "JUPYTER_PATH": str(TEMPLATES)}
    assert (TEMPLATES / "voila" / "templates" / "hmxai" / "index.html.j2").is_file()
    with pytest.raises(ValueError):
        app_environment({"colour": "red"})
    cmd = voila_command(9999, open_browser=False)
    assert str(NOTEBOOK) in cmd and "--no-browser" in cmd and "--port=9999" in cmd and NOTEBOOK.is_file()
    assert "--template=hmxai" in cmd
    e = explorer_from_env(env)
    try:
        assert e.codec.value == "jpeg" and e.quality.value == 40 and max(e.engine.x.shape[-2:]) == 80
    finally:
        e.close()


def test_task_dropdown_swaps_the_model(image):
    import torch

    from hmxai.tasks.base import wrap_task

    tiny = wrap_task(torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(3, 4)),
                     num_classes=4, name="tiny")
    e = _explorer(image, tiny, codecs=["jpeg"], method="none", background=False)
    try:
        e.wait()
        # the user's model first, then every offline task (the spiking ones among them)
        assert list(e.task.options) == ["tiny", "efficientnet-lite0", "efficientnet-lite0-snn",
                                        "efficientnet-lite0-snn-head"]
        assert e.view.decoded.labels[0].startswith("class")
        e.set(task="efficientnet-lite0").wait()
        assert e.engine.task.name == "efficientnet-lite0" and "cat" in e.view.original.labels[0]
    finally:
        e.close()


def test_flipping_between_codecs_of_one_ladder_keeps_the_quality(image, task):
    """The human codec and the machine-aware one share the quality ladder: a flip keeps the quality."""
    e = _explorer(image, task, codecs=["hmxai-vbr", "hmxai-hm", "jpeg"], background=False)
    try:
        e.wait()
        e.quality.value = 4.5
        e.wait()
        e.codec.value = "hmxai-hm"
        e.wait()
        assert e.quality.value == 4.5 and e.view.codec == "hmxai-hm" and e.view.quality == 4.5
        e.codec.value = "jpeg"  # another ladder: its middle rung
        e.wait()
        assert e.quality.value in e.engine.qualities("jpeg")
    finally:
        e.close()
