"""The switch of the loader's fast paths (private).

The loader has a general, cell-by-cell implementation of every rule and, for large tables,
column-wise (vectorised) ones that give the same frames, problems and warnings. Setting
:data:`ENABLED` to False runs the general implementation only: the test suite does this to
check that both give identical results.
"""

from __future__ import annotations

#: use the fast reader and the column-wise parsing and checks where they apply
ENABLED = True
