"""The one check of a control request's parameters, used by every method group (the
daemon's own methods, the policy API, the snapshot API).

The rule for JSON `null`: a parameter given as `null` counts as not given (its default, or
"needs the parameter" when it has none), unless `None` is among its kinds, where `null` is a
value of its own (user.passwd's `"password": null` removes the password).
"""

from __future__ import annotations

from typing import Any

from nasfs.errors import BadParams

# Marks a parameter without a default: missing (or null) is an error.
REQUIRED: Any = ...


def param(params: dict[str, Any], method: str, name: str, kind: type | tuple[type, ...],
          default: Any = REQUIRED) -> Any:
    """The parameter `name` of `method`, checked to be of `kind`; BadParams otherwise."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    value = params.get(name)
    if value is None and not (name in params and type(None) in kinds):
        if default is REQUIRED:
            raise BadParams(f"method '{method}' needs the parameter '{name}'")
        return default
    # bool is an int in Python but never a valid number on the wire.
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        names = " or ".join("null" if k is type(None) else k.__name__ for k in kinds)
        raise BadParams(f"parameter '{name}' of method '{method}' must be {names}")
    return value
