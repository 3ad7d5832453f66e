"""How clusterdns is watched: /health, /ready and /metrics over HTTP, and the query log.

Everything follows CoreDNS's health, ready, prometheus and log plugins, so probes,
dashboards and alerts written for CoreDNS work unchanged. Nothing here imports serve/:
the server counts in plain numbers and this package reads them at scrape time.
"""
