"""Keyword components: one class per concern, each exposing ``@keyword`` methods."""
