"""JSON responses encoded with orjson (matches and events are large; orjson is 3-5x faster)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse

__all__ = ["Json"]


class Json(JSONResponse):
    """A JSON response rendered by orjson (non-str keys allowed)."""

    def render(self, content: Any) -> bytes:
        """Encode."""
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)
