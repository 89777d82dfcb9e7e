# syntax=docker/dockerfile:1
#
# The one ringback image: every deployment mode runs it, picking services with
# --target (single node: --target=all; distributed: one target per container).
#
#   docker build -t ringback .
#   docker run --rm -p 8080:8080 ringback --demo

# Build on the builder's own platform and cross-compile (CGO is off), so an
# arm64 image needs no emulation. Without cgo there is no libopus: the image's
# gateway speaks G.711 only (make build adds Opus where libopus is installed).
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
ARG TARGETOS TARGETARCH
WORKDIR /src
# The workspace as the repository has it: go.work joins the modules, and each
# module listed in go.work must be present (deploy only for its go.mod and the
# healthcheck probe). bin/ and data/ are never copied.
COPY go.work go.work.sum ./
COPY proto ./proto
COPY libs ./libs
COPY services ./services
COPY cmd ./cmd
COPY deploy ./deploy
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags="-s -w" -o /out/ringback ./cmd/ringback && \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags="-s -w" -o /out/healthcheck ./deploy/cmd/healthcheck
# --data lives here; created in the image so that a fresh named volume mounted
# on it is owned by the non-root user.
RUN mkdir -p /out/data

# distroless static: CA certificates, tzdata and /etc/passwd with nonroot
# (65532), nothing else: no shell, no package manager.
FROM gcr.io/distroless/static-debian13:nonroot
COPY --from=build /out/ringback /out/healthcheck /usr/local/bin/
COPY --from=build --chown=65532:65532 /out/data /var/lib/ringback
USER 65532:65532
# In a container the HTTP API must listen on every interface. The SIP address
# is left at its default: the gateway advertises the address it binds (Via,
# Contact, SDP), so 0.0.0.0 would be wrong; compose and Kubernetes set it to
# the container's own IP.
ENV RINGBACK_HTTP=0.0.0.0:8080 \
    RINGBACK_DATA=/var/lib/ringback
EXPOSE 8080 5060/udp
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["healthcheck", "http://127.0.0.1:8080/readyz"]
ENTRYPOINT ["ringback", "serve"]
