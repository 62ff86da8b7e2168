# chat-dird, the chat directory daemon, as a container: built in one
# stage, run from a slim image with only the runtime libraries.
#
#   docker build -t chat-dird .
#   docker run -d -p 8000:8000 -v chat:/var/lib/chat chat-dird
#
# On PostgreSQL, give the database URL in CHAT_DB (the volume is then
# unused); any number of such containers may share one database:
#
#   docker run -d -p 8000:8000 \
#     -e CHAT_DB=postgresql://chat:secret@db.example/chat chat-dird

FROM debian:bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential pkg-config \
      libmicrohttpd-dev libsqlite3-dev libjansson-dev libcurl4-openssl-dev \
      libsodium-dev libpq-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN make -j"$(nproc)" all

FROM debian:bookworm-slim
# curl is only for the HEALTHCHECK.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libmicrohttpd12 libsqlite3-0 \
      libpq5 libjansson4 libcurl4 libsodium23 curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --user-group --home-dir /var/lib/chat \
      --shell /usr/sbin/nologin chat \
 && install -d -o chat -g chat -m 700 /var/lib/chat
COPY --from=build /src/bin/chat-dird /usr/local/bin/chat-dird
ENV CHAT_DB=/var/lib/chat/chat-dird.db
VOLUME /var/lib/chat
WORKDIR /var/lib/chat
USER chat
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=5s \
  CMD curl -fsS -o /dev/null http://127.0.0.1:8000/healthz || exit 1
# chat-dird listens on loopback by default; inside a container the
# published port reaches it only on all addresses.
CMD ["chat-dird", "-l", "0.0.0.0:8000"]
