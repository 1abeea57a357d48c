package segmenter

import (
	"slices"
	"testing"
	"time"

	"github.com/xray-capture/xray-capture/capture"
	"github.com/xray-capture/xray-capture/naming"
	"github.com/xray-capture/xray-capture/sampling"
)

// portConv is a conv whose server listens on another port than 80.
type portConv struct {
	*conv
	port uint16
}

func newPortConv(tb testing.TB, tr *Tracker, cport, sport uint16) portConv {
	c := portConv{&conv{tb: tb, t: tr, cport: cport, cseq: 1000, sseq: 5000, ts: time.Unix(1700000000, 0)}, sport}
	c.send(true, "", capture.FlagSYN)
	c.send(false, "", capture.FlagSYN|capture.FlagACK)
	return c
}

func (c portConv) send(fromClient bool, data string, flags uint8) {
	p := c.packet(fromClient, data, flags)
	if fromClient {
		p.DstPort = c.port
	} else {
		p.SrcPort = c.port
	}
	handle(c.tb, c.t, &p)
}

// recordSampler samples only the requests of one service, as a centralized
// rule with that service_name would, and records the names it was asked
// about.
type recordSampler struct {
	only  string
	names []string
}

func (r *recordSampler) Sample(_ time.Time, q *sampling.Request) sampling.Decision {
	r.names = append(r.names, string(q.ServiceName))
	return sampling.Decision{Sampled: string(q.ServiceName) == r.only}
}

// TestServicesNameAndSample: with names by port, each request's segment
// and the sampler's service_name are its connection's service.
func TestServicesNameAndSample(t *testing.T) {
	var list []naming.Service
	for _, s := range []string{"80=web", "8080=shop"} {
		svc, err := naming.ParseService(s)
		if err != nil {
			t.Fatal(err)
		}
		list = append(list, svc)
	}
	for _, only := range []string{"shop", "web"} {
		sampler := &recordSampler{only: only}
		tr, sink := newTrackerWith(t, func(c *Config) {
			c.Ports = []uint16{80, 8080}
			c.Namer = naming.NewServices(list, nil)
			c.Sampler = sampler
		})
		web := newPortConv(t, tr, 40001, 80)
		shop := newPortConv(t, tr, 40002, 8080)
		for _, c := range []portConv{web, shop, web, shop} {
			c.send(true, req("/"+itoa(int(c.port))), 0)
			c.send(false, resp(200, "ok"), 0)
		}
		if got, want := sampler.names, []string{"web", "shop", "web", "shop"}; !slices.Equal(got, want) {
			t.Errorf("the sampler saw service names %q, want %q", got, want)
		}
		if len(sink.docs) != 2 {
			t.Fatalf("sampling only %s: %d segments, want 2", only, len(sink.docs))
		}
		for _, d := range sink.docs {
			if d["name"] != only {
				t.Errorf("sampling only %s: a segment named %v", only, d["name"])
			}
		}
	}
}
