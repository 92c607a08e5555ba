"""The compiled C extensions of nasfs, read by setuptools beside pyproject.toml.

Everything else about the package is declared in pyproject.toml. Extensions live here
because setuptools accepts them from setup.py without the "experimental" warning its
`[tool.setuptools.ext-modules]` table prints. To add an extension, append an
`Extension` to EXTENSIONS (and its sources to the stamp in scripts/setup).

`python setup.py build_ext --inplace -q` (run by scripts/setup) builds them next to
their sources, so the checkout imports the freshly compiled modules.
"""

from setuptools import Extension, setup

# Optimisation flags only: SIMD comes from per-function target attributes (docs/parity.md).
C_FLAGS = ["-O3", "-std=gnu11", "-Wall", "-Wextra", "-fno-strict-aliasing"]

EXTENSIONS = [
    Extension(
        "parity._parity",
        sources=["parity/src/parity_core.c", "parity/src/parity_x86.c",
                 "parity/src/parity_malloc.c", "parity/src/parity_module.c"],
        depends=["parity/src/parity_core.h", "parity/src/parity_kernels.h",
                 "parity/src/parity_malloc.h", "parity/src/parity_x86_tmpl.h"],
        extra_compile_args=C_FLAGS,
    ),
    # Page checksums of the metadata databases: a SQLite VFS linked to the system
    # libsqlite3, the one Python's sqlite3 module uses (docs/on-disk-format.md).
    Extension(
        "nasfs.db._checksum_vfs",
        sources=["nasfs/db/src/checksum_vfs.c"],
        libraries=["sqlite3"],
        extra_compile_args=["-O2", "-std=gnu11", "-Wall", "-Wextra"],
    ),
]

setup(ext_modules=EXTENSIONS)
