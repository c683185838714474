"""From an explorer state to its view: real bytes, decoded image, bit map, error, top-5, explanation.

Data flow (one way)::

    image --codec.compress--> bytes --decompress--> x_hat          (one "rung" per codec/quality, cached)
          --codec.analyze--> latent, bits per element, channel scores
    rung + kept channels --g_s--> x_hat' --task--> top-5, target probability
                         --compress_latent--> real bytes of the kept channels (measured bpp)
                         --> PSNR, MS-SSIM, |error| map, bit map, explanation map --> PNG bytes

Dropping channels replaces them by their "not transmitted" value (the entropy model's most
probable value, see :mod:`hmxai.explain.objective`). Every rung and view lives in the
process-wide :data:`~hmxai.explore.cache.CACHE` under the fingerprints of the image, the task
and the codec weights, so a re-run cell or a second explorer on the same image reuses them.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Dict, Iterable, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from hmxai.errors import InvalidArgumentError
from hmxai.explore.cache import CACHE, ByteLRU
from hmxai.explore.render import ViewImages, png, render_view
from hmxai.fingerprint import fingerprint  # noqa: F401  (cache keys; also imported from here)
from hmxai.registry import quality_value  # noqa: F401  (re-exported: the UI imports it from here)
from hmxai.scales import BITS_SCALE, ERROR_SCALE
from hmxai.types.explorer import ExplorerView
from hmxai.codecs.base import Codec
from hmxai.types import ChannelScores, EncodedImage, LatentResult
from hmxai.types import Rung as PublicRung

#: pixel explanations the explorer offers (``none`` skips the overlay)
def methods() -> Tuple[str, ...]:
    """The explanation overlays: every pixel method of :data:`hmxai.explain.pixels.PIXEL_METHODS`, and ``none``."""
    from hmxai.explain.pixels import PIXEL_METHODS

    return tuple(PIXEL_METHODS.names()) + ("none",)


def method_name(method: str) -> str:
    """The registry name of an overlay method (command-line spellings such as ``gradcam`` accepted)."""
    from hmxai.explain.pixels import ALIASES

    name = ALIASES.get(method, method)
    if name not in methods():
        raise InvalidArgumentError(f"method must be one of {', '.join(methods())}, not {method!r}")
    return name


#: the explorer's slider step over a variable-rate codec's continuous quality
CONTINUOUS_STEP = 0.25
#: the exact channel scores that replace the fast ones in the background (both objectives, one pass)
EXACT_METHOD = "ablation"
#: on the way there: once the channels the fast scores rank highest for the machine are exact, the
#: bars show them with the fast estimates for the rest, which is the ``refined`` channel method
#: (benchmarks/channels_fast_machine.py: Spearman 0.82 with exact ablation at top 32, in 0.9 s on 256x256)
REFINED_METHOD, REFINED_TOP = "refined", 32




def default_codecs() -> Tuple[str, ...]:
    """Codecs that work offline: hmxai's zoo first, then every classical codec.

    CompressAI's architectures need downloaded weights (random init otherwise) and are
    offered only when named explicitly.
    """
    from hmxai.codecs import CODECS, DEFAULT_LEARNED_CODEC, list_codecs

    zoo = [n for n in list_codecs(learned=True) if CODECS.entry(n).facts.get("zoo")]
    zoo.sort(key=lambda n: n != DEFAULT_LEARNED_CODEC)
    return tuple(zoo) + tuple(list_codecs(learned=False))


@dataclass(frozen=True)
class ExplorerRung:
    """The explorer's state of one (codec, quality): the public :class:`~hmxai.types.Rung` (real
    stream, decoded image, latent, metrics, from :func:`hmxai.decode`) plus what channel budgets reuse.

    ``bits``: (M, h, w) float32 estimated bits of each latent element; ``baseline``: (1, M, h, w)
    the value of a channel that is not transmitted; ``machine``/``human``: (M,) channel importance;
    ``indexes``: the Gaussian conditional's scale indexes (re-used by every channel budget);
    ``channel_lists``: (bits per channel, machine, human) as tuples, made once.
    """

    codec: Codec
    rung: PublicRung
    bits: Optional[Tensor] = None
    baseline: Optional[Tensor] = None
    machine: Optional[Tensor] = None
    human: Optional[Tensor] = None
    scores: Optional[ChannelScores] = None
    indexes: Optional[Tensor] = None
    channel_lists: Tuple[Optional[tuple], Optional[tuple], Optional[tuple]] = (None, None, None)

    @property
    def encoded(self) -> EncodedImage:
        return self.rung.encoded

    @property
    def x_hat(self) -> Tensor:
        return self.rung.x_hat

    @property
    def latent(self) -> Optional[LatentResult]:
        return self.rung.latent

    @property
    def nbytes(self) -> int:
        tensors = [self.x_hat, self.bits, self.baseline]
        if self.latent is not None:
            lat = self.latent
            tensors += [lat.x_hat, lat.y, lat.y_hat, lat.y_likelihoods, lat.means, lat.scales]
        return sum(t.numel() * t.element_size() for t in tensors if t is not None) + len(self.encoded.payload)


class ExplorerEngine:
    """Views of one image under every codec, quality, channel budget and explanation method.

    Args:
        image: anything :func:`hmxai.load_image` reads (one image).
        task: task model or registry name (default EfficientNet-Lite0, offline).
        codecs: codec names to offer (default :func:`default_codecs`).
        qualities: optional ``{codec: [qualities]}`` overriding the default ladders
            (:func:`hmxai.explain.ladder.default_qualities`).
        channel_method: how channel importance is scored (a name in
            :data:`hmxai.explain.channels.CHANNEL_METHODS`; default the fast input-x-gradient).
        lime_samples: LIME's samples per view (LIME is computed on demand, ~10 s for 300).
        cache: where rungs and views are kept (default the process-wide cache).
    """

    def __init__(self, image, task=None, *, codecs: Optional[Sequence[str]] = None,
                 qualities: Optional[Mapping[str, Sequence[int]]] = None,
                 channel_method: str = "input-x-gradient", lime_samples: int = 300,
                 cache: Optional[ByteLRU] = None):
        from hmxai.codecs import CODECS
        from hmxai.explain.channels import CHANNEL_METHODS
        from hmxai.modes import eval_mode
        from hmxai.images import load_image, to_uint8
        from hmxai.pipeline import resolve_task

        self.x = load_image(image)  # one image: load_image refuses batches
        user_task = resolve_task(task)
        # a private copy (no user hooks): the background thread's Grad-CAM hooks and eval-mode
        # switches never touch the model the notebook's other cells may be running
        self.task = _private_copy(user_task)
        # predictions: an inference copy (batch norm folded, channels last; its logits equal the
        # task's to float rounding, checked on this image), about 25 % faster per forward pass
        from hmxai.explain.inference import inference_copy

        from hmxai.spiking.energy import is_spiking

        self.spiking = is_spiking(user_task)
        self._predict = None if self.spiking else inference_copy(user_task, probe=self.x)
        self.codecs = tuple(default_codecs() if codecs is None else codecs)
        if not self.codecs:
            raise InvalidArgumentError("give at least one codec")
        for name in self.codecs:
            CODECS.entry(name)  # unknown names fail here, with the list of known ones
        self._qualities = {k: tuple(quality_value(q) for q in v) for k, v in (qualities or {}).items()}
        self._codecs: Dict[tuple, Codec] = {}
        self._codecs_lock = threading.Lock()  # this engine's codec objects (not a module-level cache)
        self._codec_keys: Dict[int, tuple] = {}
        for name, qs in self._qualities.items():
            if name not in self.codecs or not qs:
                raise InvalidArgumentError(f"qualities given for {name!r}, which is not among the codecs or has none")
        CHANNEL_METHODS.entry(channel_method)
        if lime_samples < 10:
            raise InvalidArgumentError("lime_samples must be at least 10")
        self.channel_method, self.lime_samples = channel_method, int(lime_samples)
        self._partial: Dict[tuple, Dict[tuple, ChannelScores]] = {}  # exact scores being assembled
        self._partial_lock = threading.Lock()
        self._chunks: Dict[tuple, Tuple[Tuple[int, ...], ...]] = {}
        self.cache = CACHE if cache is None else cache
        with eval_mode(self.task), torch.no_grad():
            self.original = self.task.predict(self.x, k=5)[0]
        self.target = self.original.indices[0]
        self.key = (fingerprint(self.x), self.task.name, fingerprint(user_task))
        self.original_png = png(to_uint8(self.x))

    # ------------------------------------------------------------------ ladders
    def qualities(self, codec: str) -> Tuple[int, ...]:
        """The quality ladder of ``codec`` (ascending)."""
        from hmxai.explain.ladder import default_qualities

        from hmxai.codecs import CODECS

        self._check_codec(codec)
        if codec not in self._qualities and CODECS.entry(codec).facts.get("continuous"):
            lo, hi = CODECS.entry(codec).facts["quality_range"]  # the continuous knob, in steps of 0.25
            return tuple(quality_value(lo + CONTINUOUS_STEP * i) for i in range(int((hi - lo) / CONTINUOUS_STEP) + 1))
        return tuple(sorted(self._qualities.get(codec) or default_qualities(codec)))

    def is_learned(self, codec: str) -> bool:
        from hmxai.codecs import CODECS

        return bool(CODECS.entry(codec).facts["learned"])

    def num_channels(self, codec: str) -> Optional[int]:
        if not self.is_learned(codec):
            return None
        c = self._codec(codec, self.qualities(codec)[0])
        return int(c.model.M) if hasattr(c.model, "M") else int(self.rung(codec, self.qualities(codec)[0]).bits.shape[0])

    def _codec(self, name: str, quality) -> Codec:
        """This engine's codec object of (name, quality), made once; every quality of a variable-rate
        codec shares one model."""
        key = (name, quality)
        with self._codecs_lock:  # the UI thread and the worker both ask
            if key not in self._codecs:
                from hmxai.codecs import create_codec

                sibling = next((c for (n, _), c in self._codecs.items() if n == name and c.continuous), None)
                self._codecs[key] = create_codec(name, quality=quality) if sibling is None else sibling.at(quality)
            return self._codecs[key]

    def _check_codec(self, codec: str) -> None:
        if codec not in self.codecs:
            raise InvalidArgumentError(f"codec {codec!r} is not offered here; choose one of {', '.join(self.codecs)}")

    def _codec_key(self, codec) -> tuple:
        """(name, quality, weights id) of one of this engine's codec objects; made once per object
        (hashing the weights on every slider change cost ~9 ms; the engine's codecs are its own)."""
        key = self._codec_keys.get(id(codec))
        if key is None or key[0] is not codec:
            key = self._codec_keys[id(codec)] = (codec, (codec.name, codec.quality, getattr(codec, "weights_id", None)))
        return key[1]

    def _rung_key(self, codec, method: str) -> tuple:
        # the channel scores (bars, orderings) depend on how they were computed
        return self.key + ("rung",) + self._codec_key(codec) + (method,)

    def has_rung(self, codec: str, quality: int) -> bool:
        """Whether the rung is cached (asking for it then computes nothing)."""
        c = self._codec(codec, quality_value(quality))
        return self._rung_key(c, EXACT_METHOD) in self.cache or self._rung_key(c, self.channel_method) in self.cache

    def rung(self, codec: str, quality: int) -> ExplorerRung:
        """The cached rung: real bytes, decoded image and (learned codecs) latent and channel scores:
        exact ones once :meth:`refine` has computed them (``refined`` ones half way), else
        ``channel_method``'s (fast) ones."""
        if quality not in self.qualities(codec):
            raise InvalidArgumentError(f"{codec} quality {quality} is not on the ladder {list(self.qualities(codec))}")
        c = self._codec(codec, quality_value(quality))
        for method in (EXACT_METHOD, REFINED_METHOD):
            better = self.cache.get(self._rung_key(c, method))
            if better is not None:
                return better
        return self._fast_rung(c)

    def _fast_rung(self, c) -> ExplorerRung:
        return self.cache.get_or_compute(self._rung_key(c, self.channel_method), lambda: self._rung(c))

    # ------------------------------------------------------------------ exact channel scores
    def scores_method(self, codec: str, quality: int) -> Optional[str]:
        """The method of the channel scores shown now (None: a classical codec)."""
        if not self.is_learned(codec):
            return None
        return self.rung(codec, quality).scores.method

    def exact_chunks(self, codec: str, quality: int, size: Optional[int] = None) -> Tuple[Tuple[int, ...], ...]:
        """The live channels of a rung in pieces of ``size``, one :meth:`refine` step each, the
        channels the fast scores rank highest for the machine first. Default size: 8 channels on a
        256x256 image, fewer on larger ones (at least 2), so that a slider move never waits long
        behind a piece (each costs its channels' decodes and one more)."""
        if not self.is_learned(codec):
            return ()
        if size is None:
            size = max(2, min(8, int(8 * 256 * 256 / (self.x.shape[-2] * self.x.shape[-1]))))
        c = self._codec(codec, quality_value(quality))
        key = self._codec_key(c) + (size,)
        chunks = self._chunks.get(key)
        if chunks is None:  # made once per rung (the UI asks on every change)
            scores = self._fast_rung(c).scores
            live = scores.live.nonzero().flatten()
            ranked = live[torch.argsort(scores.machine[live].abs(), descending=True, stable=True)].tolist()
            chunks = self._chunks[key] = tuple(tuple(ranked[i : i + size]) for i in range(0, len(ranked), size))
        return chunks

    def refine(self, codec: str, quality: int, chunk: Sequence[int]) -> bool:
        """Exact ablation (both objectives in one pass) of the channels ``chunk`` of a rung. Once the
        first chunks (the :data:`REFINED_TOP` channels ranked highest) are in, the rung's scores are
        ``refined`` (those exact, the rest estimated); once every chunk of :meth:`exact_chunks` is
        in, their merge replaces the fast scores. The bars, the orderings and the budgets use the
        best scores there are. Returns whether the rung's scores are exact."""
        from dataclasses import replace

        from hmxai.explain.channels import channel_scores, merge_scores

        c = self._codec(codec, quality_value(quality))
        key = self._rung_key(c, EXACT_METHOD)
        if key in self.cache:
            return True
        fast = self._fast_rung(c)
        chunk = tuple(int(ch) for ch in chunk)
        with self._partial_lock:
            parts = self._partial.setdefault(key, {})
            done = chunk in parts
        if not done:
            part = channel_scores(self.x, c, self.task, method=EXACT_METHOD, latent=fast.rung, channels=chunk)
            with self._partial_lock:
                parts[chunk] = part
        chunks = self.exact_chunks(codec, quality)
        with self._partial_lock:
            complete = all(ch in parts for ch in chunks)
            head = list(chunks[: -(-REFINED_TOP // len(chunks[0]))]) if chunks else []
            halfway = not complete and bool(head) and all(ch in parts for ch in head)
            if complete:
                exact = merge_scores([parts[ch] for ch in chunks])
                self._partial.pop(key, None)
            elif halfway:
                exact = merge_scores([parts[ch] for ch in head])
            else:
                return False
        if complete:
            self.cache.put(key, self._rescored(fast, exact))
            return True
        refined_key = self._rung_key(c, REFINED_METHOD)
        if refined_key not in self.cache:  # the top channels exact, the fast estimates for the rest
            picked = torch.tensor([channel for ch in head for channel in ch], dtype=torch.long)
            values = {}
            for name in ("machine_logit", "machine_probability", "human_mse", "human_ms_ssim"):
                mixed = getattr(fast.scores, name).clone()
                mixed[picked] = getattr(exact, name)[picked]
                values[name] = mixed
            scores = replace(fast.scores, method=REFINED_METHOD, seconds=fast.scores.seconds + exact.seconds,
                             evaluations=fast.scores.evaluations + exact.evaluations, **values)
            self.cache.put(refined_key, self._rescored(fast, scores))
        return False

    @staticmethod
    def _rescored(fast: ExplorerRung, scores: ChannelScores) -> ExplorerRung:
        """``fast`` with other channel scores (bars, orderings)."""
        from dataclasses import replace

        machine, human = scores.machine.float(), scores.human.float()
        return replace(fast, machine=machine, human=human, scores=scores,
                       channel_lists=(fast.channel_lists[0], tuple(machine.tolist()), tuple(human.tolist())))

    def refine_progress(self, codec: str, quality: int) -> Tuple[int, int]:
        """(chunks scored exactly, chunks in all) of a rung; (n, n) once its scores are exact."""
        chunks = self.exact_chunks(codec, quality)
        if self.scores_method(codec, quality) == EXACT_METHOD:
            return len(chunks), len(chunks)
        key = self._rung_key(self._codec(codec, quality_value(quality)), EXACT_METHOD)
        with self._partial_lock:
            parts = self._partial.get(key, {})
            return sum(ch in parts for ch in chunks), len(chunks)

    def _rung(self, c) -> ExplorerRung:
        from hmxai.explain.channels import channel_scores
        from hmxai.explain.objective import ablation_values
        from hmxai.modes import eval_mode

        from hmxai.pipeline import decode

        if not c.has_latent:
            return ExplorerRung(c, decode(self.x, c))
        with eval_mode(c.model):
            public = decode(self.x, c)
        latent = public.latent
        bits = (-torch.log2(latent.y_likelihoods[0].double())).float()
        scores = channel_scores(self.x, c, self.task, method=self.channel_method, latent=public)
        indexes = None
        if latent.scales is not None:
            indexes = c.latent_indexes(latent)
        machine, human = scores.machine.float(), scores.human.float()  # what the orderings sort by
        lists = (tuple(bits.double().sum(dim=(1, 2)).tolist()), tuple(machine.tolist()), tuple(human.tolist()))
        return ExplorerRung(c, public, bits, ablation_values(c, latent), machine, human, scores, indexes, lists)

    # ------------------------------------------------------------------ channel budgets
    def order(self, codec: str, quality: int, ordering: str = "machine") -> Tuple[int, ...]:
        """Latent channels of the rung, first sent first, under ``ordering``
        (:data:`hmxai.explain.budget.ORDERINGS`)."""
        from hmxai.explain.budget import channel_order

        r = self.rung(codec, quality)
        if r.scores is None:
            raise InvalidArgumentError(f"{codec} is a classical codec: it has no latent channels to order")
        return tuple(channel_order(r.scores, ordering).tolist())

    def kept(self, codec: str, quality: int, budget: Optional[int] = None, ordering: str = "machine",
             toggled: Iterable[int] = ()) -> Optional[Tuple[int, ...]]:
        """Channels sent: the first ``budget`` under ``ordering`` (None: all), each channel of
        ``toggled`` flipped (sent <-> dropped). None when that is every channel."""
        if not self.is_learned(codec):
            if budget is not None or tuple(toggled):
                raise InvalidArgumentError(f"{codec} is a classical codec: it has no latent channels to keep or drop")
            return None
        order = self.order(codec, quality, ordering)
        m = len(order)
        if budget is not None and not 0 <= int(budget) <= m:
            raise InvalidArgumentError(f"budget must be in 0..{m}, got {budget}")
        keep = set(order if budget is None else order[: int(budget)])
        for ch in toggled:
            if not 0 <= int(ch) < m:
                raise InvalidArgumentError(f"channel {ch} is not a latent channel (0..{m - 1})")
            keep ^= {int(ch)}
        return None if len(keep) == m else tuple(sorted(keep))

    # ------------------------------------------------------------------ views
    def _view_key(self, codec: str, quality: int, kept, method: str) -> tuple:
        detail = self.lime_samples if method == "lime" else None
        return self.key + ("view",) + self._codec_key(self._codec(codec, quality_value(quality))) + (kept, method, detail)

    def peek(self, codec: str, quality: int, kept=None, method: str = "grad-cam") -> Optional[ExplorerView]:
        """The view if it is cached, else None (computes nothing)."""
        view = self.cache.get(self._view_key(codec, quality, _norm_kept(kept), method_name(method)))
        return None if view is None else self._with_bars(view)

    def view(self, codec: str, quality: int, kept=None, method: str = "grad-cam") -> ExplorerView:
        """The view of a state (cached): see :class:`~hmxai.types.explorer.ExplorerView`."""
        method = method_name(method)
        kept = _norm_kept(kept)
        if kept is not None and not self.is_learned(codec):
            raise InvalidArgumentError(f"{codec} is a classical codec: it has no latent channels to keep or drop")
        view = self.cache.get_or_compute(self._view_key(codec, quality, kept, method),
                                         lambda: self._view(codec, quality_value(quality), kept, method))
        return self._with_bars(view)

    def _with_bars(self, view: ExplorerView) -> ExplorerView:
        """``view`` with the channel importance of its rung as it is now (exact once refined): a
        view's pixels and rates depend only on the channels sent, its bars on how they were scored."""
        from dataclasses import replace

        if view.num_channels is None:
            return view
        r = self.rung(view.codec, view.quality)
        if view.scores_method == r.scores.method:
            return view
        return replace(view, machine=r.channel_lists[1], human=r.channel_lists[2], scores_method=r.scores.method)

    def images(self, view: ExplorerView) -> ViewImages:
        """The PNG bytes of ``view`` (a view of this engine), rendered once and cached beside it."""
        key = self._view_key(view.codec, view.quality, view.kept, view.method) + ("png",)
        return self.cache.get_or_compute(key, lambda: render_view(view))

    def peek_images(self, view: ExplorerView) -> Optional[ViewImages]:
        """The PNG bytes of ``view`` if they are cached, else None (renders nothing)."""
        return self.cache.get(self._view_key(view.codec, view.quality, view.kept, view.method) + ("png",))

    def _view(self, codec: str, quality: int, kept, method: str) -> ExplorerView:
        if method != "none":  # the explanation is laid on the cached view without one
            return self._explained(codec, quality, kept, method)
        from hmxai.images import to_uint8
        from hmxai.metrics import ms_ssim, psnr

        r = self.rung(codec, quality)
        start = time.perf_counter()
        bitmap = cells = cell = None
        estimated_bpp = None
        measured_bpp = r.encoded.measured_bpp
        x_hat = r.x_hat
        if r.latent is not None:
            lat = r.latent
            keep = _keep_mask(kept, lat.y_hat.shape[1])
            if kept is not None:
                y, x_hat = self._masked(r, keep)
                self.cache.put(self._view_key(codec, quality, kept, "x_hat"), _Tensor(x_hat))
                if r.codec.family != "autoregressive":
                    measured_bpp = r.codec.compress_latent(y, lat, r.encoded, r.indexes).measured_bpp
                else:  # no real stream exists for a changed autoregressive latent
                    measured_bpp = float("nan")
            per_channel = torch.tensor(r.channel_lists[0], dtype=torch.float64)
            estimated_bpp = (float(per_channel[keep].sum()) + float(lat.side_bits[0])) / lat.num_pixels
            cells, cell = _bit_cells(r.bits, keep, lat.padded_size, lat.image_size)
            bitmap = _cells_to_pixels(cells, cell, lat.image_size)
        spiking = {}
        if self.spiking:  # one recorded pass gives the logits and the spikes
            from hmxai.spiking.energy import measure_task

            logits, (report,), _ = measure_task(self.task, x_hat)
            spiking = dict(spikes=report.spikes, steps=report.steps, energy_j=report.energy_j,
                           ann_energy_j=report.ann_energy_j)
        else:
            with torch.inference_mode():
                # channels-last input: the convolutions run about 20 % faster on a CPU, same values
                logits = self._predict(x_hat.contiguous(memory_format=torch.channels_last))
        decoded = self.task.top_k(logits, 5)[0]
        target_probability = float(torch.softmax(logits.double(), dim=-1)[0, self.target])
        error = (x_hat - self.x).abs().mean(1)[0].numpy()
        image = to_uint8(x_hat)
        return ExplorerView(
            codec=codec, quality=quality, method="none", kept=kept,
            num_channels=None if r.latent is None else int(r.latent.y_hat.shape[1]),
            image_size=tuple(self.x.shape[-2:]), measured_bpp=float(measured_bpp), estimated_bpp=estimated_bpp,
            psnr=float(psnr(self.x, x_hat)[0]), ms_ssim=float(ms_ssim(self.x, x_hat, dtype=torch.float32)[0]),
            original=self.original, decoded=decoded, target=self.target,
            target_label=self.task.labels[self.target], target_probability=float(target_probability),
            decoded_image=image, error=error.astype(np.float32), bitmap=bitmap, explanation=None,
            channel_bits=r.channel_lists[0], machine=r.channel_lists[1], human=r.channel_lists[2],
            scores_method=None if r.scores is None else r.scores.method,
            seconds=time.perf_counter() - start, bitmap_cell=cell, **spiking,
        )

    def _masked(self, r: ExplorerRung, keep: Tensor) -> Tuple[Tensor, Tensor]:
        """The latent with only ``keep`` channels sent, and its decoded image (1, 3, H, W)."""
        from hmxai.modes import eval_mode
        from hmxai.images import crop_to

        lat = r.latent
        y = torch.where(keep.view(1, -1, 1, 1), lat.y_hat, r.baseline)
        with eval_mode(r.codec.model), torch.no_grad():
            x_hat = r.codec.model.g_s(y.contiguous(memory_format=torch.channels_last)).clamp(0, 1)
        return y, crop_to(x_hat, lat.image_size).contiguous()

    def decoded(self, codec: str, quality: int, kept=None) -> Tensor:
        """The decoded image of a state, ``(1, 3, H, W)`` float in [0, 1] (cached while it fits)."""
        kept = _norm_kept(kept)
        r = self.rung(codec, quality)
        if kept is None:
            return r.x_hat
        cached = self.cache.get(self._view_key(codec, quality, kept, "x_hat"))
        if cached is not None:
            return cached.tensor
        return self._masked(r, _keep_mask(kept, r.latent.y_hat.shape[1]))[1]

    def _explained(self, codec: str, quality: int, kept, method: str) -> ExplorerView:
        """The view without explanation (cached or computed) plus the explanation ``method``."""
        from dataclasses import replace

        base = self.view(codec, quality, kept, "none")
        start = time.perf_counter()
        x_hat = self.decoded(codec, quality, kept)
        from hmxai.explain.cam import CAM_METHODS, cam_maps

        if method in CAM_METHODS:  # the fast path: one forward and backward on this image alone
            explanation = cam_maps(self.task, x_hat.contiguous(memory_format=torch.channels_last), self.target,
                                   method)[0].numpy().astype(np.float32)
        else:
            explanation = self._explain_one(x_hat, base, method)
        return replace(base, method=method, explanation=explanation,
                       seconds=base.seconds + time.perf_counter() - start)

    def _explain_one(self, x_hat: Tensor, view: ExplorerView, method: str) -> np.ndarray:
        """Any pixel method of the registry on the view's decoded image, through a one-rung ladder
        holding the view's own numbers (LIME: this engine's sample count, seed 0)."""
        from hmxai.explain.pixels import PIXEL_METHODS
        from hmxai.types.ladder import RateLadder

        ladder = RateLadder(images=torch.cat([self.x, x_hat]), codecs=(view.codec,), qualities=(view.quality,),
                            measured_bpp=(view.measured_bpp,), psnr=(view.psnr,), ms_ssim=(view.ms_ssim,),
                            task=self.task.name, predictions=(view.original, view.decoded))
        params = dict(num_samples=self.lime_samples, seed=0, progress=False) if method == "lime" else {}
        explanation = PIXEL_METHODS.entry(method).factory(ladder, self.task, **params)
        return explanation.maps[1].numpy().astype(np.float32)


class _Tensor:
    """A tensor in the cache (which sizes entries by ``nbytes``)."""

    def __init__(self, tensor: Tensor):
        self.tensor = tensor
        self.nbytes = tensor.numel() * tensor.element_size()


def _private_copy(task):
    """A deep copy of the task model without the user's hooks, in eval mode."""
    import copy

    from hmxai.explain.inference import strip_hooks

    clone = copy.deepcopy(task)
    strip_hooks(clone)
    return clone.eval()


def _keep_mask(kept, m: int) -> Tensor:
    """(M,) bool: the channels sent (all for None)."""
    if kept is None:
        return torch.ones(m, dtype=torch.bool)
    if kept and not 0 <= min(kept) <= max(kept) < m:
        raise InvalidArgumentError(f"kept channels must be in 0..{m - 1}")
    keep = torch.zeros(m, dtype=torch.bool)
    keep[list(kept)] = True
    return keep


def _norm_kept(kept) -> Optional[Tuple[int, ...]]:
    if kept is None:
        return None
    return tuple(sorted({int(c) for c in kept}))


def _bit_cells(bits: Tensor, keep: Tensor, padded: Tuple[int, int], size: Tuple[int, int]) -> Tuple[np.ndarray, int]:
    """(ceil(H / cell), ceil(W / cell)) bits per pixel of each latent cell touching the image (kept
    channels; a cell's bits spread over its cell x cell pixels), and the cell side in pixels."""
    cell = padded[0] // bits.shape[1]
    per_cell = (bits * keep.view(-1, 1, 1)).sum(0).numpy() / (cell * cell)
    return per_cell[: -(-size[0] // cell), : -(-size[1] // cell)].astype(np.float32), cell


def _cells_to_pixels(cells: np.ndarray, cell: int, size: Tuple[int, int]) -> np.ndarray:
    """The cell grid at image resolution (H, W): each cell's value over its pixels."""
    return np.repeat(np.repeat(cells, cell, axis=0), cell, axis=1)[: size[0], : size[1]]


def describe_state(view: ExplorerView) -> Dict[str, object]:
    """Numbers of a view plus which fields are estimates, for JSON exports."""
    d = view.to_dict()
    d["notes"] = {
        "measured_bpp": "8 x bytes of a real stream / pixels; with channels dropped, the stream codes each "
                        "dropped element as its most probable value",
        "estimated_bpp": "entropy-model bits of the kept channels + side information / pixels",
        "ms_ssim": "computed in float32",
        "maps": f"|error| scale 0..{ERROR_SCALE}, bit-map scale 0..{BITS_SCALE} bpp; explanation raw signed",
    }
    return d
