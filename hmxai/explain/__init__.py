"""Explanations: which latent channels and pixels serve the machine, which serve the human eye.

Modules: :mod:`~hmxai.explain.objective` (decode once, score for both),
:mod:`~hmxai.explain.channels` (per-channel scores), :mod:`~hmxai.explain.budget`
(bit budget and channel-budget curves), :mod:`~hmxai.explain.spatial` (where the
bits go), :mod:`~hmxai.explain.faithfulness` (deletion/insertion, agreement of methods).

Across rates: :mod:`~hmxai.explain.ladder` (compress one image at many rungs),
:mod:`~hmxai.explain.cam` (Grad-CAM, HiRes-CAM), :mod:`~hmxai.explain.lime` (LIME with shared
superpixels and masks), :mod:`~hmxai.explain.pixels` (one entry point, drift, pixel
deletion/insertion), :mod:`~hmxai.explain.inference` (the fast inference copy of a task).
"""
