package awsmeta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"
)

// Origins, as X-Ray documents them.
const (
	OriginEC2       = "AWS::EC2::Instance"
	OriginECS       = "AWS::ECS::Container"
	OriginBeanstalk = "AWS::ElasticBeanstalk::Environment"
)

// Config says which plugins to run and where they look.
type Config struct {
	Plugins       []string
	EC2Endpoint   string        // default http://169.254.169.254
	ECSMetadata   string        // ECS_CONTAINER_METADATA_URI_V4; "" when not on ECS
	BeanstalkConf string        // default /var/elasticbeanstalk/xray/environment.conf
	Timeout       time.Duration // per HTTP call; default 1 s as the Python SDK
	Deadline      time.Duration // for all plugins together; default 1.5 s
	Log           *slog.Logger
}

// Metadata is what the plugins found.
type Metadata struct {
	Origin string
	AWS    []byte // `"ec2":{...},"ecs":{...}`: members of the segment's "aws" object
}

// ParsePlugins checks a comma-separated plugin list.
func ParsePlugins(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	var out []string
	for _, p := range strings.Split(s, ",") {
		p = strings.ToLower(strings.TrimSpace(p))
		switch p {
		case "ec2", "ecs", "elasticbeanstalk":
			out = append(out, p)
		default:
			return nil, fmt.Errorf("--plugins: unknown plugin %q (want ec2, ecs, elasticbeanstalk)", p)
		}
	}
	return out, nil
}

// Collect runs the plugins in order.
func Collect(ctx context.Context, cfg Config) Metadata {
	if cfg.EC2Endpoint == "" {
		cfg.EC2Endpoint = "http://169.254.169.254"
	}
	if cfg.BeanstalkConf == "" {
		cfg.BeanstalkConf = "/var/elasticbeanstalk/xray/environment.conf"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Second
	}
	if cfg.Deadline <= 0 {
		cfg.Deadline = 1500 * time.Millisecond
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	log := cfg.Log.With("component", "awsmeta")
	ctx, cancel := context.WithTimeout(ctx, cfg.Deadline)
	defer cancel()
	client := &http.Client{Timeout: cfg.Timeout}

	var md Metadata
	var members []string
	for _, p := range cfg.Plugins {
		var (
			key, origin string
			data        any
			err         error
		)
		switch p {
		case "ec2":
			key, origin = "ec2", OriginEC2
			data, err = ec2(ctx, client, cfg.EC2Endpoint)
		case "ecs":
			key, origin = "ecs", OriginECS
			data, err = ecs(ctx, client, cfg.ECSMetadata)
		case "elasticbeanstalk":
			key, origin = "elastic_beanstalk", OriginBeanstalk
			data, err = beanstalk(cfg.BeanstalkConf)
		}
		if err != nil {
			log.Info("plugin skipped", "plugin", p, "reason", err)
			continue
		}
		b, _ := json.Marshal(data)
		members = append(members, fmt.Sprintf("%q:%s", key, b))
		md.Origin = origin // the last plugin with data wins, as in the SDKs
	}
	md.AWS = []byte(strings.Join(members, ","))
	return md
}

// ec2 reads the instance identity document, with an IMDSv2 token if the
// service gives one (PUT with a 60 s TTL), else as IMDSv1.
func ec2(ctx context.Context, c *http.Client, endpoint string) (any, error) {
	token := ""
	req, _ := http.NewRequestWithContext(ctx, http.MethodPut, endpoint+"/latest/api/token", nil)
	req.Header.Set("X-aws-ec2-metadata-token-ttl-seconds", "60")
	if resp, err := c.Do(req); err == nil {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			token = strings.TrimSpace(string(b))
		}
	} else if ctx.Err() != nil {
		return nil, fmt.Errorf("instance metadata service: %w", err)
	}
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, endpoint+"/latest/dynamic/instance-identity/document", nil)
	if token != "" {
		req.Header.Set("X-aws-ec2-metadata-token", token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("instance metadata service: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("instance identity document: %s", resp.Status)
	}
	var doc struct{ InstanceID, AvailabilityZone, InstanceType, ImageID string }
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&doc); err != nil {
		return nil, fmt.Errorf("instance identity document: %w", err)
	}
	if doc.InstanceID == "" {
		return nil, errors.New("instance identity document without instanceId")
	}
	return map[string]string{"instance_id": doc.InstanceID, "availability_zone": doc.AvailabilityZone,
		"instance_type": doc.InstanceType, "ami_id": doc.ImageID}, nil
}

// ecs records the container as the SDKs do, by hostname (Docker sets it to
// the short container id; run xray-capture in the app's task for it to be
// the app's), and, when the task metadata endpoint v4 is there, the
// container's id and ARN.
func ecs(ctx context.Context, c *http.Client, uri string) (any, error) {
	host, err := os.Hostname()
	if err != nil {
		return nil, fmt.Errorf("hostname: %w", err)
	}
	if uri == "" {
		return map[string]string{"container": host}, nil
	}
	get := func(u string, out any) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", u, resp.Status)
		}
		return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(out)
	}
	var container struct{ DockerId, Name, ContainerARN string }
	if err := get(uri, &container); err != nil {
		return nil, fmt.Errorf("task metadata: %w", err)
	}
	out := map[string]string{"container": host, "container_id": container.DockerId}
	if container.ContainerARN != "" {
		out["container_arn"] = container.ContainerARN
	}
	return out, nil
}

// beanstalk reads the environment file the platform writes.
func beanstalk(path string) (any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var env struct {
		DeploymentID    *int64 `json:"deployment_id"`
		VersionLabel    string `json:"version_label"`
		EnvironmentName string `json:"environment_name"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, fmt.Errorf("%s is malformed: %w", path, err)
	}
	if env.EnvironmentName == "" {
		return nil, fmt.Errorf("%s has no environment_name", path)
	}
	out := map[string]any{"environment_name": env.EnvironmentName, "version_label": env.VersionLabel}
	if env.DeploymentID != nil {
		out["deployment_id"] = *env.DeploymentID
	}
	return out, nil
}
