"""The Draw page's parts: the canvas pad and the honest prediction view."""
