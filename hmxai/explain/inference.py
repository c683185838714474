"""An inference copy of a task model for many forward passes (LIME samples, deletion curves).

The user's model is never changed: the copy is made first. On the copy, exactly (up to float
rounding):

* every ``BatchNorm2d`` (exactly that class, in eval mode) that reads a plain ``Conv2d`` or an
  EfficientNet-PyTorch same-padding convolution used nowhere else is folded into that
  convolution's weights and bias (traced with ``torch.fx``, convolutions as leaves); a network
  with nothing to fold is left untraced, and a folded copy whose output differs from the task's
  on a probe image is dropped for the unfolded one;
* a "same"-padding convolution of the EfficientNet-PyTorch family (a ``Conv2d`` subclass with a
  ``static_padding`` ``ZeroPad2d`` or identity) whose padding is symmetric becomes a plain ``Conv2d``;
* parameters go channels-last.

Networks that cannot be traced (data-dependent control flow) keep their layers and still get
the channels-last copy. Hooks registered on the user's model are not copied. :func:`parallel_batches` runs many small batches
on all cores.
"""

from __future__ import annotations

import copy
import threading
from typing import Callable, List, Optional, TypeVar

import torch
from torch import fx, nn

from hmxai.modes import eval_mode

T = TypeVar("T")


SAME_PADDING_CONVS = ("Conv2dStaticSamePadding", "Conv2dDynamicSamePadding")


def _foldable_conv(m: nn.Module) -> bool:
    return type(m) is nn.Conv2d or type(m).__name__ in SAME_PADDING_CONVS


class _ConvLeafTracer(fx.Tracer):
    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, (nn.Conv2d, nn.BatchNorm2d)) or super().is_leaf_module(m, qualname)


def _plain_conv(conv: nn.Conv2d) -> nn.Module:
    pad = getattr(conv, "static_padding", None)
    if type(conv) is nn.Conv2d or pad is None:
        return conv
    if isinstance(pad, nn.ZeroPad2d):
        left, right, top, bottom = pad.padding
    elif isinstance(pad, nn.Identity) or (type(pad).__name__ == "Identity" and not list(pad.parameters())):
        left = right = top = bottom = 0
    else:
        return conv
    if left != right or top != bottom or conv.padding_mode != "zeros" or conv.padding not in ((0, 0), 0):
        return conv
    plain = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, (top, left),
                      conv.dilation, conv.groups, bias=conv.bias is not None)
    plain.weight = conv.weight
    plain.bias = conv.bias
    return plain


def _fold(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
    scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps) if bn.affine else \
        1.0 / torch.sqrt(bn.running_var + bn.eps)
    shift = bn.bias.detach() if bn.affine else torch.zeros_like(scale)
    bias = conv.bias.detach() if conv.bias is not None else torch.zeros_like(scale)
    conv.weight = nn.Parameter(conv.weight.detach() * scale.view(-1, 1, 1, 1), requires_grad=False)
    conv.bias = nn.Parameter((bias - bn.running_mean) * scale + shift, requires_grad=False)


def fold_network(net: nn.Module) -> nn.Module:
    """``net`` (already a copy) with batch norm folded into its convolutions, or ``net`` itself when
    there is nothing to fold; may raise when ``net`` cannot be traced."""
    graph = _ConvLeafTracer().trace(net)
    gm = fx.GraphModule(net, graph)
    modules = dict(gm.named_modules())
    calls = {}
    for node in gm.graph.nodes:
        if node.op == "call_module":
            calls[node.target] = calls.get(node.target, 0) + 1
    folded = 0
    for node in list(gm.graph.nodes):
        if node.op != "call_module" or not isinstance(modules[node.target], nn.BatchNorm2d):
            continue
        bn, prev = modules[node.target], node.args[0]
        if not (type(bn) is nn.BatchNorm2d and not bn.training and bn.track_running_stats
                and bn.running_var is not None and isinstance(prev, fx.Node) and prev.op == "call_module"
                and _foldable_conv(modules[prev.target]) and len(prev.users) == 1
                and calls[prev.target] == 1 and calls[node.target] == 1):
            continue
        _fold(modules[prev.target], bn)
        node.replace_all_uses_with(prev)
        gm.graph.erase_node(node)
        folded += 1
    if not folded:
        return net
    for name, m in list(gm.named_modules()):
        if isinstance(m, nn.Conv2d) and type(m) is not nn.Conv2d and calls.get(name):
            parent, _, leaf = name.rpartition(".")
            setattr(gm.get_submodule(parent) if parent else gm, leaf, _plain_conv(m))
    gm.graph.eliminate_dead_code()
    gm.recompile()
    gm.delete_all_unused_submodules()
    return gm


def strip_hooks(module: nn.Module) -> None:
    """Remove every forward, pre-forward and backward hook of ``module`` and its children (a copy's)."""
    for m in module.modules():
        for name in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks"):
            hooks = getattr(m, name, None)
            if hooks:
                hooks.clear()


def inference_copy(task: nn.Module, fold: bool = True, probe: Optional[torch.Tensor] = None) -> nn.Module:
    """A copy of ``task`` in eval mode, batch norm folded when traceable, channels last, no hooks.

    With ``probe`` (an image batch), a folded copy is kept only if its logits equal the task's
    on it (to 1e-3 relative, 1e-4 absolute); otherwise the unfolded copy is returned.
    """
    fast = copy.deepcopy(task).eval()
    strip_hooks(fast)
    if fold and isinstance(getattr(fast, "net", None), nn.Module):
        try:
            folded = copy.deepcopy(fast)
            net = folded.net
            folded.net = fold_network(net)
            if folded.net is not net and probe is not None:
                with eval_mode(task), torch.no_grad():  # the user's task keeps every module's own mode
                    same = torch.allclose(folded(probe), task(probe), rtol=1e-3, atol=1e-4)
                folded = folded if same else fast
            fast = folded
        except Exception:  # noqa: BLE001 - untraceable networks keep their layers
            pass
    for p in fast.parameters():
        p.requires_grad_(False)
    return fast.to(memory_format=torch.channels_last)


def parallel_batches(fn: Callable[[nn.Module, int], T], count: int, model: nn.Module, workers: Optional[int] = None,
                     done: Optional[Callable[[T], None]] = None) -> List[T]:
    """``[fn(model, 0), ..., fn(model, count - 1)]`` by ``workers`` threads, one torch thread each.

    Small-batch CNN inference on a few CPU cores is faster as independent batches in parallel
    than as one batch split across cores (measured: EfficientNet-Lite0, 224², 2 cores, batches
    of 4: 16 vs 22 ms an image). Each worker gets its own deep copy of ``model`` (safe for
    models that keep state between calls, e.g. spiking neurons). Torch's thread count is
    restored afterwards, also after an exception (while the pool runs, the setting is process-wide:
    other threads using torch meanwhile get one thread too); ``fn`` enters its own
    ``inference_mode`` and ``autocast`` (they are per thread). Results do not depend on the number
    of workers.
    """
    import queue
    from concurrent.futures import ThreadPoolExecutor

    workers = max(1, min(count, torch.get_num_threads() if workers is None else int(workers)))
    copies: "queue.SimpleQueue[nn.Module]" = queue.SimpleQueue()
    for _ in range(workers):  # made here, so a failing copy raises its own error
        copies.put(copy.deepcopy(model))
    local = threading.local()

    def setup() -> None:
        local.model = copies.get()

    def call(index: int) -> T:
        return fn(local.model, index)

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # process-wide while the pool runs
    try:
        out = []
        with ThreadPoolExecutor(workers, initializer=setup) as pool:
            for result in pool.map(call, range(count)):
                out.append(result)
                if done is not None:
                    done(result)
        return out
    finally:
        torch.set_num_threads(threads)
