"""Training of hmxai's own learned codecs (``hmxai train codec CONFIG``)."""
