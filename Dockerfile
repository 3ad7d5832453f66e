# clusterdns as a container: serves the manifests mounted at /manifests on port 53.
FROM python:3.11-slim

# The file capability lets the non-root user bind :53 even with --network host, where
# Docker's unprivileged-port sysctl does not apply.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libcap2-bin \
 && setcap cap_net_bind_service=+ep "$(readlink -f "$(command -v python3)")" \
 && apt-get purge -y libcap2-bin && apt-get autoremove -y && rm -rf /var/lib/apt/lists/*

WORKDIR /src
# setup.py declares the C answering threads; without gcc here pip skips it and UDP batches are
# answered in Python (serve/batch.py).
COPY pyproject.toml setup.py README.md ./
COPY clusterdns ./clusterdns
RUN pip install --no-cache-dir . && rm -rf /src

# A numeric user, as CoreDNS's image uses, so Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
WORKDIR /
# The state file (derived addresses, SOA serial) needs a writable place; user 65532 has no
# home. Mount a volume here to keep addresses across container restarts.
ENV XDG_STATE_HOME=/tmp/state
VOLUME /manifests
# /health, /ready and /metrics on CoreDNS's ports, so probes and scrapers written for it
# work unchanged.
EXPOSE 53/udp 53/tcp 8080/tcp 8181/tcp 9153/tcp
ENTRYPOINT ["clusterdns"]
CMD ["serve", "--manifests", "/manifests", "--listen", "0.0.0.0:53", \
     "--health", "0.0.0.0:8080", "--ready", "0.0.0.0:8181", "--metrics", "0.0.0.0:9153"]
