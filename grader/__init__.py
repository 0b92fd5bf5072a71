"""An autograder for a Transformer course: sandboxed workers, plain-data wire, rich reports."""

__version__ = "0.1.0"
