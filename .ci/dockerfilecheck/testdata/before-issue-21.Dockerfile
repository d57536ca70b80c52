# Multi-stage build of the wochit-ingest binary: a static executable on a
# minimal, non-root base image. The default target is the production binary
# (-tags production: ingress, worker, setup, redeliver, version; no embedded
# Temporal server or GCS emulator). The `demo` target is the full command,
# for docker-compose's demo-server.
FROM golang:1.26.8-bookworm AS build
# The Go release the binary is built with; newer than the image's when a
# standard-library fix is out (.ci/production-build scans this one). The go
# command fetches it from the module proxy.
ARG GO_TOOLCHAIN=go1.26.10
ENV GOTOOLCHAIN=${GO_TOOLCHAIN}
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=devel
RUN CGO_ENABLED=0 go build -tags production -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/wochit-ingest .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/wochit-ingest-demo .

FROM gcr.io/distroless/static-debian12:nonroot AS demo
COPY --from=build /out/wochit-ingest-demo /usr/local/bin/wochit-ingest
USER nonroot:nonroot
EXPOSE 8081
ENTRYPOINT ["/usr/local/bin/wochit-ingest"]
CMD ["demo-server"]

FROM gcr.io/distroless/static-debian12:nonroot AS production
COPY --from=build /out/wochit-ingest /usr/local/bin/wochit-ingest
USER nonroot:nonroot
# 8080: ingress webhook; 9090: worker /metrics, /healthz, /readyz.
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/wochit-ingest"]
CMD ["--help"]
