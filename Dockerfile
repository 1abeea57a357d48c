# A static binary (no cgo: it can drop its capabilities) on a minimal image.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /xray-capture ./cmd/xray-capture

FROM gcr.io/distroless/static-debian12
COPY --from=build /xray-capture /usr/local/bin/xray-capture
ENTRYPOINT ["/usr/local/bin/xray-capture"]
