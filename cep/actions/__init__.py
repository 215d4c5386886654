"""Actions of matches: signed webhook delivery (Standard Webhooks v1) with an SSRF guard.

    signing.py     webhook-id / webhook-timestamp / webhook-signature, whsec_ secrets
    schedule.py    the Svix retry schedule with jitter, Retry-After, time compression
    ssrf.py        which addresses a webhook may reach; the pinned-address connector
    endpoints.py   webhook endpoints as per-tenant resources (secrets, rotation)
    dispatcher.py  outbox -> deliveries -> HTTP attempts, retries, dead letters

`EMIT INTO stream` actions are carried out by the worker (cep.worker), which appends the
derived events right after the commit that holds them.
"""
