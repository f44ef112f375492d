"""The NumPy array types a host snapshot's columns are made of, in one place of their own so
that the snapshot and what it keeps current (kept.py) name them without importing each other."""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
from numpy.typing import NDArray

Mask: TypeAlias = NDArray[np.bool_]  # one bool per host: passes (True) or not
Floats: TypeAlias = NDArray[np.float64]  # one number per host: a column
Indices: TypeAlias = NDArray[np.intp]  # host indices (rows), ascending
