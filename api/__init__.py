"""The FastAPI service around the `cep` engine: REST API, tenants and keys, console, metrics.

    app.py        create_app(): routers, error handlers, middleware, static console
    settings.py   the one Settings class (environment variables, documented defaults)
    runtime.py    Runtime: the log, store, dispatcher and worker one process serves
    statements.py registering statements: check, compile, SSRF-check webhooks, endpoints
    deps.py       Annotated dependencies (runtime, caller and role)
    errors.py     the one error shape and its handlers
    schemas/      pydantic request/response models (kept apart from engine types)
    routes/       one router per resource
    serve.py      `cep serve` / `cep demo`: API + worker + dispatcher in one process

`cep` never imports this package except lazily from the `serve`/`demo`/`bench service`
commands.
"""
