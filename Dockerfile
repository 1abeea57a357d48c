# A static binary (no cgo: it can drop its capabilities) on a minimal image.
# make image stamps the version: docker build --build-arg VERSION=1.2.3 .
FROM golang:1.26.8 AS build
ARG VERSION=0.1.0-dev
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /xray-capture ./cmd/xray-capture

FROM gcr.io/distroless/static-debian12
COPY --from=build /xray-capture /usr/local/bin/xray-capture
ENTRYPOINT ["/usr/local/bin/xray-capture"]
