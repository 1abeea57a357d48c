package emitter

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/xray-capture/xray-capture/awsmeta"
	"github.com/xray-capture/xray-capture/xray"
)

// ResourceAttributes are the attributes of every span's resource besides
// service.name (docs/otlp.md, Resource): what the AWS plugins found
// (origin and the pre-encoded "aws" members of the segments), the
// telemetry.sdk.* naming xray-capture, then the user's
// (OTEL_RESOURCE_ATTRIBUTES), which win over those found. region is the
// configured AWS region ("" when none); an EC2 availability zone gives it
// otherwise.
func ResourceAttributes(origin string, aws []byte, region, sdkVersion string, user []Attribute) []Attribute {
	var out []Attribute
	set := func(k, v string) {
		if v == "" {
			return
		}
		for i := range out {
			if out[i].Key == k {
				out[i].Value = v
				return
			}
		}
		out = append(out, Attribute{k, v})
	}
	var members struct {
		EC2 map[string]string `json:"ec2"`
		ECS map[string]string `json:"ecs"`
		EB  map[string]any    `json:"elastic_beanstalk"`
	}
	if len(aws) > 0 {
		_ = json.Unmarshal([]byte("{"+string(aws)+"}"), &members)
	}
	if origin != "" || region != "" {
		set("cloud.provider", "aws")
	}
	// The X-Ray exporter turns cloud.platform back into the origin.
	switch origin {
	case awsmeta.OriginEC2:
		set("cloud.platform", "aws_ec2")
	case awsmeta.OriginECS:
		set("cloud.platform", "aws_ecs")
	case awsmeta.OriginBeanstalk:
		set("cloud.platform", "aws_elastic_beanstalk")
	}
	if az := members.EC2["availability_zone"]; az != "" {
		set("cloud.availability_zone", az)
		if region == "" {
			region = strings.TrimRight(az, "abcdefghijklmnopqrstuvwxyz")
		}
	}
	set("cloud.region", region)
	set("host.id", members.EC2["instance_id"])
	set("host.type", members.EC2["instance_type"])
	set("host.image.id", members.EC2["ami_id"])
	set("container.name", members.ECS["container"])
	set("container.id", members.ECS["container_id"])
	if members.EB != nil {
		set("deployment.environment.name", fmt.Sprint(members.EB["environment_name"]))
		set("service.version", fmt.Sprint(members.EB["version_label"]))
	}
	set("telemetry.sdk.name", xray.SDKName)
	set("telemetry.sdk.language", "go")
	set("telemetry.sdk.version", sdkVersion)
	for _, a := range user {
		if a.Key == "service.name" {
			continue // the segment's name is the service's
		}
		set(a.Key, a.Value)
	}
	return out
}

// ParseKeyValues reads the W3C Baggage-like lists of
// OTEL_RESOURCE_ATTRIBUTES and OTEL_EXPORTER_OTLP_HEADERS:
// "key1=value1,key2=value2", values percent-encoded, spaces around
// trimmed.
func ParseKeyValues(what, s string) ([]Attribute, error) {
	var out []Attribute
	for _, item := range strings.Split(s, ",") {
		if strings.TrimSpace(item) == "" {
			continue
		}
		k, v, ok := strings.Cut(item, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("%s: %q is not key=value", what, item)
		}
		dv, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("%s: %q: %w", what, item, err)
		}
		out = append(out, Attribute{k, dv})
	}
	return out, nil
}
