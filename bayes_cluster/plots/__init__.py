"""Figures: every function returns a matplotlib Figure and never fits a model."""
