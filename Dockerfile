# taskwire api / worker image. Same image for both; the compose file picks the command.
# Runs TypeScript through tsx (a runtime dependency), so a plain `npm install` is needed
# (`--omit=dev` would still work for tsx, but `npm ci` fails on @swc optional deps missing
# from the lockfile, see .ci/run).
FROM node:20-slim

ENV NODE_ENV=production \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false

WORKDIR /app

COPY package.json package-lock.json ./
RUN npm install --no-audit --no-fund && npm cache clean --force

# Sources only (no host node_modules, .cache, .data): no .dockerignore needed.
COPY tsconfig.json ./
COPY activities ./activities
COPY api ./api
COPY channels ./channels
COPY db ./db
COPY runtime ./runtime
COPY scripts ./scripts
COPY worker ./worker
COPY workflows ./workflows

# Stored files (FILES_DIR) live on a volume shared by api and worker.
RUN mkdir -p /data/files && chown -R node:node /data
ENV DATA_DIR=/data \
    FILES_DIR=/data/files \
    HOST=0.0.0.0 \
    PORT=3000
VOLUME ["/data"]
USER node

EXPOSE 3000
CMD ["npm", "run", "api"]
