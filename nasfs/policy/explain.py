"""Why a user has the access they have to a share, in one sentence (`nasfs share access`).

It walks the same rule the gate applies (nasfs.policy.acl): the entries that apply to the
user, "none wins", otherwise the highest grant; then the administrator override; and for
`homes/OWNER`, the owner-only rule.
"""

from __future__ import annotations

from collections.abc import Iterable

from nasfs.policy.acl import Access, AclEntry, Principal, acl_access, applies


def _through(entry: AclEntry) -> str:
    if entry.kind == "user":
        return "the user's own entry"
    if entry.kind == "group":
        return f"group {entry.principal}"
    return "everyone"


def explain(entries: Iterable[AclEntry], who: Principal, *, guest_share: bool = False) -> str:
    """E.g. "rw through group sales; the user's own entry says ro; the highest grant wins"."""
    entries = list(entries)
    hits = [e for e in entries if applies(e, who)]
    granted = acl_access(entries, who)
    if who.is_guest and guest_share:
        text = "ro: the share allows guests, who may read it (and match no entry)"
    elif who.is_guest:
        text = "none: a guest (unknown uid) matches no entry of the access list"
    elif not hits:
        text = f"none: no entry of the access list applies to {who.name}"
    elif granted == Access.NONE:
        deny = next(e for e in hits if e.access == Access.NONE)
        others = [e for e in hits if e is not deny]
        text = f"none through {_through(deny)}; a none entry that applies wins"
        if others:
            text += " (" + ", ".join(f"{_through(e)} says {e.access.word}" for e in others) + ")"
    else:
        best = next(e for e in hits if e.access == granted)
        rest = [e for e in hits if e is not best]
        text = f"{granted.word} through {_through(best)}"
        if rest:
            text += "; " + "; ".join(f"{_through(e)} says {e.access.word}" for e in rest)
            text += "; the highest grant wins"
    if who.is_admin and granted != Access.RW:
        return f"rw as an administrator (audited); the access list alone gives {text}"
    return text


def explain_home(owner: str, who: Principal) -> str:
    if not who.is_guest and who.name == owner:
        return f"rw: homes/{owner} is {owner}'s own folder"
    if who.is_admin:
        return f"rw as an administrator (audited); homes/{owner} belongs to {owner}"
    return f"none: only {owner} and administrators open homes/{owner}"
