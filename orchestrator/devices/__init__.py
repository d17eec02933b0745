"""Device kinds: what each kind of device implements, described as data."""
