"""The HTML kit shared by Synthera's reports (``synthera evaluate``, ``synthera bias``).

:mod:`synthera._report.html` turns plain dicts and arrays into one
self-contained page; it knows nothing of the report classes that call it.
"""

__all__ = ["html"]
