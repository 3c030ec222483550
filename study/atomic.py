"""Moved to common.atomic (the leaf every package imports); kept so code written against study.atomic still
imports. New code imports common.atomic."""
from common.atomic import atomic_path

__all__ = ["atomic_path"]
