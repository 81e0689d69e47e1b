# syntax=docker/dockerfile:1
#
# metagpt-bot: the release binary plus Python 3.11 with MetaGPT 0.8.2, installed by the same script the
# tests use (scripts/install-metagpt.sh). No secret is baked in: every credential comes from the
# environment at run time.
#
# Targets:
#   app     the GitHub App (`metagpt-bot serve` on :3000) as the unprivileged user `metagpt` (10001); what
#           docker-compose.yml runs:          docker build --target app -t metagpt-bot .
#   action  the default (last) target, published by the release workflow and run by action.yml
#           (`docker://ghcr.io/…:v1`; a fork can point action.yml at `Dockerfile` to build it): the same
#           image as root, because GitHub runs container actions as root and mounts
#           GITHUB_OUTPUT/GITHUB_STEP_SUMMARY writable only by the runner's user, so a non-root user could
#           not write the step outputs.

# The binary: built here from source (`built`, the default: forks, docker compose, local builds), or the
# one the release workflow built for the image's platform (`prebuilt`: BINARY=prebuilt and a build context
# `dist` holding `<arch>/metagpt-bot`, see .github/workflows/release.yml), which skips the Rust build.
ARG BINARY=built

# ---- the release binary (vendored libgit2, system OpenSSL) ----
FROM rust:1.95-bookworm AS builder
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
COPY templates ./templates
COPY config/app.yml ./config/app.yml
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin metagpt-bot \
    && install -m 0755 target/release/metagpt-bot /usr/local/bin/metagpt-bot

FROM scratch AS binary-built
COPY --from=builder /usr/local/bin/metagpt-bot /metagpt-bot

FROM scratch AS binary-prebuilt
ARG TARGETARCH
# `dist` is a named build context (`--build-context dist=…`), not a stage.
# hadolint ignore=DL3022
COPY --from=dist --chmod=0755 ${TARGETARCH}/metagpt-bot /metagpt-bot

# hadolint ignore=DL3006
FROM binary-${BINARY} AS binary

# ---- MetaGPT 0.8.2 in a virtual environment, by the project's install script ----
FROM python:3.11-slim-bookworm AS metagpt
# A compiler for any dependency that has no wheel; this stage is thrown away, only the venv is kept.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/metagpt-bot
COPY scripts/install-metagpt.sh ./scripts/install-metagpt.sh
COPY python/metagpt-0.8.2-constraints.txt ./python/metagpt-0.8.2-constraints.txt
RUN PYTHON=python3.11 PIP_NO_CACHE_DIR=1 UV_NO_CACHE=1 scripts/install-metagpt.sh /opt/metagpt-venv

# ---- the App: non-root, serves on :3000 ----
FROM python:3.11-slim-bookworm AS app
# git for MetaGPT's repository handling, CA certificates and OpenSSL for HTTPS to GitHub and the LLM,
# bubblewrap for the agent's sandbox (AGENT_SANDBOX; it needs a container that may create namespaces,
# else `auto` runs unsandboxed with a warning: README → Docker).
# Debian stable's security updates are wanted here, so versions are not pinned.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git ca-certificates libssl3 bubblewrap \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 metagpt \
    && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /home/metagpt metagpt \
    && install -d -o metagpt -g metagpt /var/lib/metagpt-bot /var/lib/metagpt-bot/data
COPY --from=metagpt /opt/metagpt-venv /opt/metagpt-venv
COPY --from=binary /metagpt-bot /usr/local/bin/metagpt-bot
ENV METAGPT_PYTHON=/opt/metagpt-venv/bin/python \
    HOST=0.0.0.0 \
    PORT=3000
# The default DATABASE_URL (sqlite://data/metagpt-bot.db) lands in /var/lib/metagpt-bot/data: mount a
# volume there, or set DATABASE_URL to Postgres.
WORKDIR /var/lib/metagpt-bot
USER 10001:10001
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=4)"]
ENTRYPOINT ["metagpt-bot"]
CMD ["serve"]

# ---- the GitHub Action (action.yml runs the released image of this target, `args: ["action"]`) ----
FROM app AS action
# GitHub runs container actions as root (see the note at the top); the job's container is thrown away.
# hadolint ignore=DL3002
USER 0:0
HEALTHCHECK NONE
CMD ["action"]
