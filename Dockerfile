# reelflow's production image: one static binary on distroless, run as non-root. The
# same image runs every command (worker, receiver, sandbox, start, status ...): pick
# one with the container's command, e.g. `docker run IMAGE worker`.
#
# It is built with -tags nodev, which leaves out `reelflow dev` and the Temporal server
# and UI it embeds; use `go run ./cmd/reelflow dev` from a checkout for that.
#
#   docker build --build-arg VERSION=$(git describe --always --dirty) -t reelflow .

# Builder: the Go release go.mod names, on Debian 12.
FROM golang:1.26.8-bookworm AS build
# Never download another toolchain inside the build: go.mod's version is this one.
ENV GOTOOLCHAIN=local
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# VERSION becomes `reelflow version` and, for a worker with --deployment-name but no
# --build-id, its Worker Versioning build ID.
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -tags nodev -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
        -o /out/reelflow ./cmd/reelflow && \
    mkdir -p /out/data

# Runtime: no shell, no package manager; CA certificates and tzdata included, for
# HeyGen, Temporal Cloud and bucket uploads over TLS.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/reelflow /reelflow
# /data is where the sandbox keeps its state; a named volume mounted here inherits
# this owner, so that the non-root user can write to it.
COPY --from=build --chown=65532:65532 /out/data /data
# The distroless "nonroot" user, by number so that runAsNonRoot checks can verify it.
USER 65532:65532
# 8080 receiver, 8090 sandbox, 9090 worker metrics.
EXPOSE 8080 8090 9090
ENTRYPOINT ["/reelflow"]
CMD ["--help"]
