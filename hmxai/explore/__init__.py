"""The explorer's compute side (no widgets): rate ladders of views, channel budgets, a bounded cache.

:class:`~hmxai.explore.engine.ExplorerEngine` turns a state (codec, quality, kept channels,
explanation method) into an :class:`~hmxai.types.explorer.ExplorerView`; the widgets in
:mod:`hmxai.ui` and the ``hmxai explore`` command only ask it for views.
"""
