# syntax=docker/dockerfile:1
# The CodeX app image, for the compose topology (a real Piston beside it; PISTON_URL points at it).
# It carries no language toolchains and no bubblewrap: code never runs in this container.
#
# Stages: toolchain (node + compilers for better-sqlite3's native build) → build (every dependency,
# tsc + vite) and prod-deps (production dependencies only) → runtime (slim node, non-root, the
# built output and the production node_modules, nothing else).

ARG NODE_IMAGE=node:20-bookworm-slim

# ---------------------------------------------------------------------------- toolchain
FROM ${NODE_IMAGE} AS toolchain
# npm 11 reads "allowScripts" in package.json, the list of dependencies allowed to run install
# scripts (better-sqlite3 builds its native module). Same npm as the dev machines and CI.
RUN npm install -g npm@11.19.1 \
 && apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# Manifests first, so the dependency layers are reused until a manifest or the lockfile changes.
COPY package.json package-lock.json ./
COPY shared/package.json shared/
COPY server/package.json server/
COPY client/package.json client/

# ---------------------------------------------------------------------------- build
FROM toolchain AS build
RUN npm ci
COPY tsconfig.base.json tsconfig.json ./
COPY shared/ shared/
COPY server/ server/
COPY client/ client/
RUN npx tsc -b && npm run build -w client

# ---------------------------------------------------------------------------- prod-deps
FROM toolchain AS prod-deps
# Production dependencies of the server (and the shared package it links to); no dev tools, no
# client bundle dependencies, since the client ships pre-built.
RUN npm ci --omit=dev --workspace=server --workspace=shared

# ---------------------------------------------------------------------------- runtime
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    CODEX_DATA_DIR=/data
WORKDIR /app
# Owned by root and not writable by the app user: the process can change nothing but /data.
COPY --from=prod-deps /app/ ./
COPY --from=build /app/shared/dist/ shared/dist/
COPY --from=build /app/server/dist/ server/dist/
COPY --from=build /app/client/dist/ client/dist/
# A fresh named volume takes this directory's owner, so the non-root user can write to it.
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 3000
# /readyz: 200 once storage and the execution engine answer, 503 with the reason otherwise.
# The slim image has no curl; node's fetch does the probe.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# SIGTERM makes the server flush every room and exit 0 (server/src/main.ts).
STOPSIGNAL SIGTERM
CMD ["node", "server/dist/main.js"]
