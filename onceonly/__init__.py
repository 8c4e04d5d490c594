"""onceonly: the clerk fetches the evidence, the citizen brings no paper."""

import warnings

__version__ = "0.1.0"

# pyhanko imports cryptography's DSA types, which warn at import; onceonly signs nothing with
# DSA. Printed on every command and first in `onceonly serve`'s JSON log, it read as an error.
warnings.filterwarnings("ignore", message="DSA is deprecated", module=r"pyhanko\.")
