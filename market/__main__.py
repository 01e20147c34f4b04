"""Entry point for `python -m market`."""

import os
import sys

# Before LightGBM or scikit-learn load OpenMP: with the default (spinning) wait policy, two
# threads on a busy 2-core machine wait on each other for whole time slices; a fit of CryptoPunks
# took 60 s instead of 0.8 s. Passive waiting costs nothing measurable on an idle machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from market.cli import main

sys.exit(main())
