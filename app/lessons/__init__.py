"""The /learn lessons' catalogue, figures and background runs."""
