"""cep: a complex event processing rule engine."""
__version__ = "0.1.0"
