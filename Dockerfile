# syntax=docker/dockerfile:1
# taskwire: one image for the API and the worker; the command picks which (docker-compose.yml).
#   docker build -t taskwire .
#   docker run … taskwire                             # API + webhooks on :3000
#   docker run … taskwire node dist/worker/main.js    # Temporal worker
# Both need DATABASE_URL and TEMPORAL_ADDRESS (see README, Configuration).
# Runs compiled JavaScript (tsc → dist/) with production dependencies only: no tsx, no compiler.
ARG NODE_VERSION=24.21.0

# 1. deps: all dependencies, dev ones included (tsc), exactly as the lockfile says.
FROM node:${NODE_VERSION}-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

# 2. build: dist/ and the prebuilt workflow bundle (dist/workflow-bundle.js), so the worker does
#    not run webpack at every start.
FROM deps AS build
COPY tsconfig.json tsconfig.build.json ./
COPY activities ./activities
COPY api ./api
COPY channels ./channels
COPY db ./db
COPY runtime ./runtime
COPY scripts ./scripts
COPY worker ./worker
COPY workflows ./workflows
RUN npm run build

# 3. runtime: production dependencies + dist/. Optional dependencies are left out: they are the
#    embedded PostgreSQL binaries (only `npm start` uses them) and the @swc compiler binaries
#    (only needed to bundle workflows at start, which the prebuilt bundle avoids).
FROM node:${NODE_VERSION}-slim AS runtime
ENV NODE_ENV=production \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --omit=optional --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist

# Stored files (FILES_DIR) live on a volume shared by the API and the worker. The app's files stay
# owned by root: the process (user `node`, uid 1000) can read them but not change them.
RUN mkdir -p /data/files && chown -R node:node /data
ENV DATA_DIR=/data \
    FILES_DIR=/data/files \
    HOST=0.0.0.0 \
    PORT=3000
VOLUME ["/data"]
USER node

EXPOSE 3000
# Liveness of the API process (/readyz also checks PostgreSQL and Temporal: use it for a load
# balancer). The worker serves no HTTP: docker-compose.yml turns this check off for it.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# node directly (not npm): signals reach the process, which drains and exits on SIGTERM.
CMD ["node", "dist/api/main.js"]
