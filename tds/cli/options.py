"""Option values that more than one command parses."""

# The simulator (which loads Flask) is imported when a size is parsed, so `tds --help` never loads it.

from __future__ import annotations

import click


def scale_option(ctx, param, value):
    """A simulator data size: full, small, tiny, or a positive factor of full."""
    from tds.simulator.config import NAMED_SCALES

    if value in NAMED_SCALES:
        return value
    try:
        factor = float(value)
    except ValueError:
        factor = 0.0
    if factor <= 0:
        raise click.BadParameter(f"{value!r} is not a size; use {', '.join(NAMED_SCALES)} or a positive factor "
                                 "such as 0.5", param_hint="--scale")
    return factor
