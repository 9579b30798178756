# The image the manifests in deploy/ run (ghcr.io/infra-ts/infra): the packed package, installed
# globally, run as the non-root user the manifests ask for. Build it from a packed package:
#   npm pack && docker build -t ghcr.io/infra-ts/infra:0.1.0 .
FROM node:20-slim
COPY infra-ts-*.tgz /tmp/
# better-sqlite3 (the SQLite driver) fetches its prebuilt binary in an install script.
RUN npm install -g --no-audit --no-fund /tmp/infra-ts-*.tgz \
  && rm /tmp/infra-ts-*.tgz \
  && npm cache clean --force
USER 10001:10001
ENTRYPOINT ["infra"]
