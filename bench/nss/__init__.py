"""Benches of the NSS module: getaddrinfo latency (``python -m bench.nss``)
and long fuzzing of its table parser (``python -m bench.nss.fuzz``)."""
