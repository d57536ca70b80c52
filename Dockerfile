# Multi-stage build of the wochit-ingest binary: a static executable on a
# minimal, non-root base image. The same image runs `ingress`, `worker` and
# `demo-server` (see docker-compose.yml).
FROM golang:1.26.8-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=devel
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/wochit-ingest .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/wochit-ingest /usr/local/bin/wochit-ingest
USER nonroot:nonroot
# 8080: ingress webhook; 9090: worker /metrics, /healthz, /readyz.
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/wochit-ingest"]
CMD ["--help"]
