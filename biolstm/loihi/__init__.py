"""Intel Loihi: fixed point, placement on cores and chips, constraint checks, energy and time."""
