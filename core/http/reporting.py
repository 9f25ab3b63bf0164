"""Error reports that never show a credential, whatever the setting or variable is called.

Django's filter hides names containing KEY, SECRET, PASS, TOKEN... but not
`DATABASE_URL` or `CACHE_URL`, whose passwords sit inside the value. Debug
pages and mailed 500 reports show settings and, under runserver, the whole
process environment, so every `*_URL`, `*_URLS` (DATABASE_REPLICA_URLS) and
`*DSN*` is hidden too (STATIC_URL with them: a small price for never guessing
which URL carries a password).
"""

from __future__ import annotations

import re

from django.views.debug import SafeExceptionReporterFilter


class CredentialsFilter(SafeExceptionReporterFilter):
    hidden_settings = re.compile(
        "API|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|DSN|_URLS?$",
        flags=re.IGNORECASE,
    )
