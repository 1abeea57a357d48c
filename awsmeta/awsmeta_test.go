package awsmeta

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const identity = `{"instanceId":"i-0123456789abcdef0","availabilityZone":"us-east-1a","instanceType":"m5.large","imageId":"ami-0abc","region":"us-east-1"}`

// imds is a loopback instance metadata service; v2 says whether it hands
// out tokens.
func imds(t *testing.T, v2 bool) (*httptest.Server, *[]string) {
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Method+" "+r.URL.Path+" ttl="+r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds")+" token="+r.Header.Get("X-aws-ec2-metadata-token"))
		switch {
		case r.Method == http.MethodPut && r.URL.Path == "/latest/api/token":
			if !v2 {
				http.Error(w, "forbidden", http.StatusForbidden)
				return
			}
			io.WriteString(w, "TOKEN123")
		case r.Method == http.MethodGet && r.URL.Path == "/latest/dynamic/instance-identity/document":
			if v2 && r.Header.Get("X-aws-ec2-metadata-token") != "TOKEN123" {
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			io.WriteString(w, identity)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &seen
}

func decode(t *testing.T, md Metadata) map[string]map[string]any {
	var m map[string]map[string]any
	if err := json.Unmarshal([]byte("{"+string(md.AWS)+"}"), &m); err != nil {
		t.Fatalf("aws members %q: %v", md.AWS, err)
	}
	return m
}

func TestEC2IMDSv2(t *testing.T) {
	srv, seen := imds(t, true)
	md := Collect(context.Background(), Config{Plugins: []string{"ec2"}, EC2Endpoint: srv.URL})
	ec2 := decode(t, md)["ec2"]
	if md.Origin != OriginEC2 || ec2["instance_id"] != "i-0123456789abcdef0" || ec2["availability_zone"] != "us-east-1a" ||
		ec2["instance_type"] != "m5.large" || ec2["ami_id"] != "ami-0abc" {
		t.Errorf("metadata %s origin %s", md.AWS, md.Origin)
	}
	if len(*seen) != 2 || (*seen)[0] != "PUT /latest/api/token ttl=60 token=" || !strings.HasSuffix((*seen)[1], "token=TOKEN123") {
		t.Errorf("calls %q", *seen)
	}
}

func TestEC2FallsBackToIMDSv1(t *testing.T) {
	srv, seen := imds(t, false)
	md := Collect(context.Background(), Config{Plugins: []string{"ec2"}, EC2Endpoint: srv.URL})
	if decode(t, md)["ec2"]["instance_id"] != "i-0123456789abcdef0" {
		t.Errorf("metadata %s", md.AWS)
	}
	if len(*seen) != 2 || !strings.HasSuffix((*seen)[1], "token=") {
		t.Errorf("calls %q", *seen)
	}
}

func TestSilentMetadataServiceDoesNotHang(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer srv.Close()
	defer close(block)
	var logs bytes.Buffer
	start := time.Now()
	md := Collect(context.Background(), Config{Plugins: []string{"ec2"}, EC2Endpoint: srv.URL,
		Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("start-up took %v", d)
	}
	if md.Origin != "" || len(md.AWS) != 0 || strings.Count(logs.String(), "plugin skipped") != 1 {
		t.Errorf("metadata %q origin %q logs %s", md.AWS, md.Origin, logs.String())
	}
}

func TestBeanstalkAndOrigin(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "environment.conf")
	os.WriteFile(good, []byte(`{"deployment_id":23,"version_label":"v7","environment_name":"shop-prod"}`), 0o644)
	srv, _ := imds(t, true)
	md := Collect(context.Background(), Config{Plugins: []string{"elasticbeanstalk", "ec2"}, EC2Endpoint: srv.URL, BeanstalkConf: good})
	m := decode(t, md)
	if eb := m["elastic_beanstalk"]; eb["environment_name"] != "shop-prod" || eb["version_label"] != "v7" || eb["deployment_id"] != 23.0 {
		t.Errorf("beanstalk %v", eb)
	}
	if md.Origin != OriginEC2 {
		t.Errorf("origin %q: the last plugin with data wins", md.Origin)
	}

	bad := filepath.Join(dir, "bad.conf")
	os.WriteFile(bad, []byte(`{"deployment_id":"not a number"`), 0o644)
	var logs bytes.Buffer
	md = Collect(context.Background(), Config{Plugins: []string{"ec2", "elasticbeanstalk"}, EC2Endpoint: srv.URL, BeanstalkConf: bad,
		Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if md.Origin != OriginEC2 || !strings.Contains(logs.String(), "plugin=elasticbeanstalk") || !strings.Contains(logs.String(), "malformed") {
		t.Errorf("malformed file: origin %q logs %s", md.Origin, logs.String())
	}
}

func TestECSTaskMetadata(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"DockerId":"cd189a933e5849daa93386466019ab50-2495160603","Name":"shop","ContainerARN":"arn:aws:ecs:us-west-2:1:container/abc"}`)
	}))
	defer srv.Close()
	host, _ := os.Hostname()
	md := Collect(context.Background(), Config{Plugins: []string{"ecs"}, ECSMetadata: srv.URL + "/v4/abc"})
	if e := decode(t, md)["ecs"]; md.Origin != OriginECS || e["container"] != host || e["container_id"] != "cd189a933e5849daa93386466019ab50-2495160603" ||
		e["container_arn"] != "arn:aws:ecs:us-west-2:1:container/abc" {
		t.Errorf("ecs %v origin %s", e, md.Origin)
	}
	// Without the endpoint, the hostname alone, as the SDKs record it.
	md = Collect(context.Background(), Config{Plugins: []string{"ecs"}})
	if e := decode(t, md)["ecs"]; md.Origin != OriginECS || e["container"] != host || len(e) != 1 {
		t.Errorf("hostname only: %v", e)
	}
}

func TestParsePlugins(t *testing.T) {
	if p, err := ParsePlugins("ec2, ECS,elasticbeanstalk"); err != nil || len(p) != 3 {
		t.Errorf("%v %v", p, err)
	}
	if _, err := ParsePlugins("ec2,gcp"); err == nil || !strings.Contains(err.Error(), `"gcp"`) {
		t.Errorf("unknown plugin: %v", err)
	}
}
