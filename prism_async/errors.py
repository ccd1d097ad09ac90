"""Deprecated: every error is exported from :mod:`prism_async` itself.

``from prism_async.errors import GenerationFailed`` keeps working, with a
:class:`DeprecationWarning`; import from ``prism_async`` instead.
"""

import warnings

from prism_async._errors import *  # noqa: F403 - the same names, under the old module
from prism_async._errors import __all__ as __all__

warnings.warn(
    "prism_async.errors is deprecated: import the errors from prism_async",
    DeprecationWarning,
    stacklevel=2,
)
