"""Type names for buffer-protocol arguments (collections.abc.Buffer arrives in Python 3.12)."""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing_extensions import Buffer
else:
    Buffer = object

# The C module checks writability at run time; the type system cannot express it.
WritableBuffer = Buffer

__all__ = ["Buffer", "WritableBuffer"]
