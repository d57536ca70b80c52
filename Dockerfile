# syntax=docker/dockerfile:1
#
# Multi-stage build of wochit-ingest: a static executable on a minimal,
# non-root base image. The default target is `production`, the production
# binary (-tags production: ingress, worker, setup, redeliver, codec-server,
# version; no embedded Temporal server or GCS emulator); its stages never
# compile anything else. The `demo` target is the full command, for
# docker-compose's demo-server. BuildKit only builds the stages the target
# needs.
#
#   docker build --build-arg VERSION=v1.2.3 --build-arg REVISION=$(git rev-parse HEAD) \
#     --build-arg CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ) -t REGISTRY/wochit-ingest:v1.2.3 .
#
# .dockerignore leaves .git out of the context, so Go cannot stamp the VCS
# revision by itself (-buildvcs): REVISION is passed in, and `version` prints
# VERSION+<12 digits of REVISION>. .ci/dockerfilecheck checks this file's
# shape offline (no Docker engine in CI).

FROM golang:1.26.8-bookworm AS source
# The Go release the binary is built with; newer than the image's when a
# standard-library fix is out (.ci/production-build scans this one). The go
# command fetches it from the module proxy into the module cache.
ARG GO_TOOLCHAIN=go1.26.10
ENV GOTOOLCHAIN=${GO_TOOLCHAIN} CGO_ENABLED=0
WORKDIR /src
COPY go.mod go.sum ./
# Modules and the build cache live in BuildKit cache mounts: kept between
# builds, never in a layer.
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .

# The production binary, alone.
FROM source AS build-production
ARG VERSION=devel
ARG REVISION=
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    v="${VERSION}${REVISION:++}$(printf '%.12s' "${REVISION}")" && \
    go build -tags production -buildvcs=false -trimpath -ldflags "-s -w -X main.version=${v}" -o /out/wochit-ingest .

# The full command (dev, send, demo-server), for the demo target only.
FROM source AS build-demo
ARG VERSION=devel
ARG REVISION=
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    v="${VERSION}${REVISION:++}$(printf '%.12s' "${REVISION}")" && \
    go build -buildvcs=false -trimpath -ldflags "-s -w -X main.version=${v}" -o /out/wochit-ingest-demo .

FROM gcr.io/distroless/static-debian12:nonroot AS demo
ARG VERSION=devel
ARG REVISION=
ARG CREATED=
LABEL org.opencontainers.image.title="wochit-ingest-demo" \
      org.opencontainers.image.description="wochit-ingest demo-server: demo media and a verifying callback receiver (not for production)" \
      org.opencontainers.image.source="https://github.com/wochit-ingest/wochit-ingest" \
      org.opencontainers.image.url="https://github.com/wochit-ingest/wochit-ingest" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="gcr.io/distroless/static-debian12:nonroot"
COPY --from=build-demo /out/wochit-ingest-demo /usr/local/bin/wochit-ingest
USER nonroot:nonroot
EXPOSE 8081
ENTRYPOINT ["/usr/local/bin/wochit-ingest"]
CMD ["demo-server"]

# Last, so it is the default target.
FROM gcr.io/distroless/static-debian12:nonroot AS production
ARG VERSION=devel
ARG REVISION=
ARG CREATED=
LABEL org.opencontainers.image.title="wochit-ingest" \
      org.opencontainers.image.description="Wochit video notifications into GCS through Temporal: ingress, worker, codec-server" \
      org.opencontainers.image.source="https://github.com/wochit-ingest/wochit-ingest" \
      org.opencontainers.image.url="https://github.com/wochit-ingest/wochit-ingest" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="gcr.io/distroless/static-debian12:nonroot"
COPY --from=build-production /out/wochit-ingest /usr/local/bin/wochit-ingest
USER nonroot:nonroot
# 8080: ingress webhook; 9090: worker /metrics, /healthz, /readyz; 8089: codec-server.
EXPOSE 8080 9090 8089
ENTRYPOINT ["/usr/local/bin/wochit-ingest"]
CMD ["--help"]
