# syntax=docker/dockerfile:1
# The customer-service chat backend. TypeScript runs on Node's own type
# stripping, so src/ and the workspace packages it imports (packages/) ship as
# they are: the first stage only installs the production dependencies, the
# second builds the web console (the one build step), the third is the image.
#   docker build -t cs-chat-backend .
#   docker run --env-file prod.env -p 11075:11075 cs-chat-backend
# compose.yaml runs it with MySQL, Redis, a migration step and nginx.

FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# npm ci needs the manifest of every workspace package the lock file names (one
# line per package: COPY with a wildcard would flatten the folders).
COPY packages/contracts/package.json ./packages/contracts/
COPY packages/sdk/package.json ./packages/sdk/
COPY packages/console/package.json ./packages/console/
# No devDependencies: the `node` package that pins Node 24 for npm scripts is not
# needed, the base image is Node 24. No install scripts are needed either. The
# root (the server) and the workspace packages: node_modules/@cs-chat/* become
# links to packages/, which the image copies below.
RUN npm ci --omit=dev --workspaces --include-workspace-root --ignore-scripts --no-audit --no-fund

# The web console (packages/console, served at /console/) is built by Vite, a
# dev dependency: in a stage of its own, of which only the built files are kept.
FROM node:24-slim AS console
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/contracts/package.json ./packages/contracts/
COPY packages/sdk/package.json ./packages/sdk/
COPY packages/console/package.json ./packages/console/
RUN npm ci --workspace @cs-chat/console --ignore-scripts --no-audit --no-fund
# The console's tsconfig.json extends the root's, which Vite reads while bundling.
COPY tsconfig.json ./
COPY packages ./packages
RUN npm run build --workspace @cs-chat/console

FROM node:24-slim
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json ./
COPY packages ./packages
COPY --from=console /app/packages/console/dist ./packages/console/dist
COPY src ./src
# Uploaded files (MEDIA_DIR=media) and an embedded database (sqlite:data/...) belong
# to the unprivileged `node` user of the base image; mount a volume on /app/media.
RUN mkdir -p media data && chown node:node media data
USER node
EXPOSE 11075
# Liveness over HTTP with Node's own fetch (the slim image has no curl).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.PORT + '/api/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Every variable is required (see .env.example); pass them with -e/--env-file or compose.
# SIGTERM finishes in-flight requests, tells sockets to reconnect (1012) and closes the pool.
CMD ["node", "src/main.ts"]
