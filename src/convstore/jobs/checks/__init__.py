"""The checks of ``convstore verify``, one module per kind of subject they inspect.

``base`` holds the vocabulary (Check, Issue, Finding, Context); ``repairs`` what
``--fix`` changes and how; ``fields`` the cheap type screen shared by files and rows;
``lookup`` the batched SQL lookups that cross-store checks consult; and ``files``,
``leftovers``, ``rows``, ``twins``, ``events`` and ``schema`` declare the checks.
"""
