"""The explorer's fixed colour scales, shared by its PNGs (:mod:`hmxai.explore.render`) and its figures
(:mod:`hmxai.plots.explorer`): the same colour means the same value at every rate and in every export."""

#: fixed colour scales of the maps, so that moving the rate slider changes what they show
#: (not only their normalisation): |error| averaged over colour, in [0, 1] units; bits per
#: pixel of each latent cell (its bits spread over the cell's pixels)
ERROR_SCALE = 0.15
BITS_SCALE = 2.0

#: the bit budget's classes, in every figure (the explorer's bars, channel plots, sweep figures)
BUDGET_COLOURS = {"both": "#7b3294", "machine": "#d7191c", "human": "#2c7bb6", "neither": "#bababa"}
