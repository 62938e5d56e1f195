# dmvpnd in a container. Needs --cap-add NET_ADMIN --cap-add NET_RAW and /dev/net/tun:
#   docker run --cap-add NET_ADMIN --cap-add NET_RAW --device /dev/net/tun \
#     -v /etc/dmvpn:/etc/dmvpn:ro dmvpnd
FROM node:20-bookworm-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/dmvpnd
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npx tsc -p tsconfig.json && touch dist/.built \
 && npx node-gyp rebuild --directory=platform/native --nodedir=/usr/local \
 && npm prune --omit=dev

FROM node:20-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends iproute2 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/dmvpnd
COPY --from=build /opt/dmvpnd /opt/dmvpnd
ENTRYPOINT ["node", "/opt/dmvpnd/bin/dmvpnd.js"]
CMD ["--config", "/etc/dmvpn/dmvpn.conf"]
