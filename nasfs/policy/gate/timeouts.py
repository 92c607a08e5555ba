"""How long the kernel may cache what the gate answers (entry, attribute, negative entry).

All changes reach the volume through this mount, so ordinary entries may be cached; entries
whose visibility depends on who asks must not be, so every path walk through them asks the
gate again as the walker (docs/policy.md, "Shadowing and the kernel caches")."""

from __future__ import annotations

ENTRY_TIMEOUT = 60.0  # ordinary entries: this mount is the only writer
VOLATILE_TIMEOUT = 0.0  # entries whose visibility depends on who asks: every walk asks us
# Attributes of those entries may be cached briefly: each walk's LOOKUP (as the walker)
# replaces them with what that caller may see before the kernel checks permissions.
VOLATILE_ATTR_TIMEOUT = 1.0
CONTENT_TIMEOUT = 300.0  # snapshot content never changes; only its top can vanish

VOLATILE = (VOLATILE_TIMEOUT, VOLATILE_ATTR_TIMEOUT)
ORDINARY = (ENTRY_TIMEOUT, ENTRY_TIMEOUT)
CONTENT = (CONTENT_TIMEOUT, CONTENT_TIMEOUT)
