//go:build !linux

package pipeline

import "errors"

func openWorkers(Options) ([]liveSource, string, error) {
	return nil, "", errors.New("live capture needs Linux; replay a capture file with --read FILE")
}
