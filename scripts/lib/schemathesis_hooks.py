"""Hooks for scripts/api-conformance: the request bodies epochd takes as raw
bytes (a batch of events, a zstd chunk) are generated as any bytes, so the
check sends the node malformed ones too: it must answer them with a 4xx and
never a 5xx."""

import schemathesis
from hypothesis import strategies as st

for media_type in ("application/x-ndjson", "application/msgpack", "application/zstd"):
    schemathesis.openapi.media_type(media_type, st.binary(max_size=4096))
