package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
)

// xrayOTLPRegion says whether host is X-Ray's OTLP endpoint,
// xray.REGION.amazonaws.com[.cn], which wants SigV4 (docs/otlp.md), and
// in which region. Not a package-level regexp: its compilation at start-up
// was part of every replay's fixed cost.
func xrayOTLPRegion(host string) (string, bool) {
	host = strings.TrimSuffix(host, ".cn")
	rest, ok := strings.CutSuffix(host, ".amazonaws.com")
	if !ok {
		return "", false
	}
	region, ok := strings.CutPrefix(rest, "xray.")
	if !ok || region == "" {
		return "", false
	}
	for _, c := range region {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return "", false
		}
	}
	return region, true
}

// newSigV4 signs OTLP requests for X-Ray (service "xray") in region,
// with the credentials of the SDK's default chain (the environment, the
// shared files, SSO, the web identity, the ECS and EC2 roles); an empty
// region is the SDK's (AWS_REGION, the profile, else the instance
// metadata). The credentials are fetched, and cached until they expire,
// by the exporter's goroutine on its first request, so a start-up away
// from AWS never waits for the metadata service.
func newSigV4(ctx context.Context, region string) (func(*http.Request, []byte) error, error) {
	opts := []func(*config.LoadOptions) error{config.WithEC2IMDSRegion()}
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("--otlp-sigv4: the AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, fmt.Errorf("--otlp-sigv4: no region: give --otlp-region or AWS_REGION")
	}
	signer := v4.NewSigner()
	region = cfg.Region
	return func(req *http.Request, body []byte) error {
		creds, err := cfg.Credentials.Retrieve(req.Context())
		if err != nil {
			return fmt.Errorf("otlp: AWS credentials: %w", err)
		}
		sum := sha256.Sum256(body)
		return signer.SignHTTP(req.Context(), creds, req, hex.EncodeToString(sum[:]), "xray", region, time.Now())
	}, nil
}
