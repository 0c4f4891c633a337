"""People's rights (GDPR articles 15 and 17): find a person everywhere Matinale holds them,
and erase them from all of it so that the next night cannot bring them back.

- ``identity``: the request (one e-mail, phone or id) and which rows are that person;
- ``rewrite``: files rewritten minus rows, everything else byte for byte, atomically;
- ``holders``: the kinds of files that may hold a person (exports, private run files,
  quarantine reports, delivery files, suppression entries);
- ``find``: every place, with fields and dates (article 15);
- ``erase``: removal, suppression, and the request's record without personal data (article 17);
- ``commands``: ``matinale person find|erase`` (``add_commands``).
"""

from __future__ import annotations

from matinale.person.commands import add_commands
from matinale.person.erase import ERASURES_FILE, REQUESTS_PREFIX, ensure_privacy_key, erase_person
from matinale.person.find import Found, find_person
from matinale.person.identity import Identity, PersonError, PersonQuery

__all__ = [
    "ERASURES_FILE",
    "REQUESTS_PREFIX",
    "Found",
    "Identity",
    "PersonError",
    "PersonQuery",
    "add_commands",
    "ensure_privacy_key",
    "erase_person",
    "find_person",
]
