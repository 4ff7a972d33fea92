"""Studies of methods: simulation studies (``study``) and simulation-based calibration.

May import every layer below it, ``run`` included (spec parsing, output safety).
"""
