"""Schemathesis hooks (SCHEMATHESIS_HOOKS=tests.api.st_hooks): NDJSON bodies are text."""

import schemathesis

schemathesis.serializer.alias("application/x-ndjson", "text/plain")
