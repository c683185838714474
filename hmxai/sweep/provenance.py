"""What every sweep row records about the software that made it."""

from __future__ import annotations

import json
from functools import lru_cache


@lru_cache(maxsize=1)
def versions_json() -> str:
    """hmxai's and its libraries' versions, as a compact JSON object (the same keys as ``hmxai info``)."""
    from hmxai.info import package_versions

    return json.dumps(package_versions(("pyarrow", "dask", "distributed")), sort_keys=True, separators=(",", ":"))
