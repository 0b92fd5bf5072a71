"""An autograder for a Transformer course: sandboxed workers, plain-data wire, rich reports.

In a notebook: ``import grader; grader.grade("attention")``, or ``%load_ext grader`` and
``%grade attention`` (grader/notebook.py). Nothing is imported here: the worker process
loads this package too.
"""

__version__ = "0.1.0"


def grade(*exercises: str, **options: object) -> object:
    """Grade EXERCISES of the notebook's folder and show the report: see grader.notebook.grade."""
    from grader.notebook import grade as _grade

    return _grade(*exercises, **options)


def load_ipython_extension(ipython: object) -> None:
    """``%load_ext grader``: registers the ``%grade`` magic."""
    from grader.notebook import load_ipython_extension as _load

    _load(ipython)
