package main

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// Configuration comes from four places, in this order of precedence:
// command-line flags, environment variables (XRAY_CAPTURE_<FLAG>, plus the
// SDKs' AWS_XRAY_DAEMON_ADDRESS), the YAML file of --config, and the
// defaults. AWS_XRAY_TRACING_NAME is the one exception: as in the Python
// SDK, it overrides the default service name wherever that came from (not
// the --service names, which it would merge into one).

// envName is the variable that sets a flag: --daemon-address is
// XRAY_CAPTURE_DAEMON_ADDRESS.
func envName(flag string) string {
	return "XRAY_CAPTURE_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

type fileValue struct {
	value string
	line  int
}

// configFile is what the --config file sets: values by flag name, and
// errors for the keys it cannot use.
type configFile struct {
	path   string
	values map[string]fileValue
	errs   []error
}

// readConfig reads the file --config or XRAY_CAPTURE_CONFIG names, if any.
// The error says it could not be read as a mapping at all.
func readConfig(fs *pflag.FlagSet, env lookupEnv) (configFile, error) {
	path, _ := fs.GetString("config")
	if !fs.Changed("config") {
		if v, ok := env(envName("config")); ok {
			path = v
		}
	}
	file := configFile{path: path, values: map[string]fileValue{}}
	if path == "" {
		return file, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return file, fmt.Errorf("--config: %w", err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return file, fmt.Errorf("config %s: %w", path, err)
	}
	if len(root.Content) == 0 {
		return file, nil // an empty file
	}
	m := root.Content[0]
	if m.Kind != yaml.MappingNode {
		return file, fmt.Errorf("config %s line %d: want a mapping of option names to values", path, m.Line)
	}
	// A key that names no flag is an error with its line, so that a typo
	// is not ignored.
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if f := fs.Lookup(k.Value); f == nil || k.Value == "config" || k.Value == "help" {
			file.errs = append(file.errs, fmt.Errorf("config %s line %d: unknown key %q", path, k.Line, k.Value))
			continue
		}
		switch v.Kind {
		case yaml.ScalarNode:
			file.values[k.Value] = fileValue{v.Value, v.Line}
		case yaml.SequenceNode:
			var items []string
			for _, it := range v.Content {
				if it.Kind != yaml.ScalarNode {
					file.errs = append(file.errs, fmt.Errorf("config %s line %d: %s: want a list of values", path, it.Line, k.Value))
					break
				}
				items = append(items, it.Value)
			}
			if len(items) == len(v.Content) {
				file.values[k.Value] = fileValue{strings.Join(items, ","), v.Line}
			}
		case yaml.MappingNode:
			if !mappingFlags[k.Value] {
				file.errs = append(file.errs, fmt.Errorf("config %s line %d: %s: want a value or a list", path, v.Line, k.Value))
				break
			}
			if items, err := mappingItems(v); err != nil {
				file.errs = append(file.errs, fmt.Errorf("config %s %w", path, err))
			} else {
				file.values[k.Value] = fileValue{items, v.Line}
			}
		default:
			file.errs = append(file.errs, fmt.Errorf("config %s line %d: %s: want a value or a list", path, v.Line, k.Value))
		}
	}
	return file, nil
}

// mappingFlags are the list flags whose items are KEY=VALUE, which the
// file also takes as a mapping: "service: {8080: shop}".
var mappingFlags = map[string]bool{"service": true}

// mappingItems turns a mapping into the flag's value: KEY=VALUE items,
// comma-separated as pflag reads a list (quoted where a value holds a
// comma or a quote).
func mappingItems(m *yaml.Node) (string, error) {
	var b strings.Builder
	w := csv.NewWriter(&b)
	items := make([]string, 0, len(m.Content)/2)
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Kind != yaml.ScalarNode || v.Kind != yaml.ScalarNode {
			return "", fmt.Errorf("line %d: want KEY: NAME", k.Line)
		}
		items = append(items, k.Value+"="+v.Value)
	}
	if len(items) == 0 {
		return "", nil
	}
	if err := w.Write(items); err != nil {
		return "", err
	}
	w.Flush()
	return strings.TrimSuffix(b.String(), "\n"), w.Error()
}

// applySources fills every flag not given on the command line from the
// environment, then from the config file. It sets every value it can, and
// returns every one it could not, with the file's unusable keys.
func applySources(fs *pflag.FlagSet, env lookupEnv, file configFile) error {
	errs := file.errs
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed || f.Name == "config" || f.Name == "help" {
			return
		}
		for _, name := range envNames(f.Name) {
			if v, ok := env(name); ok && v != "" {
				if err := set(fs, f, v); err != nil {
					errs = append(errs, fmt.Errorf("%s=%q: %v", name, v, err))
				}
				return
			}
		}
		if fv, ok := file.values[f.Name]; ok {
			if err := set(fs, f, fv.value); err != nil {
				errs = append(errs, fmt.Errorf("config %s line %d: %s: %v", file.path, fv.line, f.Name, err))
			}
		}
	})
	return errors.Join(errs...)
}

// set sets a flag from a source. A value that does not parse leaves the
// flag as it was: pflag stores a number's zero before it fails, which
// validate would then report as a second mistake. (A list is left alone
// on failure.)
func set(fs *pflag.FlagSet, f *pflag.Flag, v string) error {
	was := f.Value.String()
	err := fs.Set(f.Name, v)
	if _, list := f.Value.(pflag.SliceValue); err != nil && !list {
		f.Value.Set(was)
	}
	return err
}

func envNames(flag string) []string {
	if flag == "daemon-address" {
		return []string{envName(flag), "AWS_XRAY_DAEMON_ADDRESS"}
	}
	return []string{envName(flag)}
}

// newConfigCmd is "config print": the effective configuration as YAML, in
// the --config file's format: validated as a run validates it, with the
// values a run would use.
func newConfigCmd(stdout io.Writer, env lookupEnv, opts *Options) *cobra.Command {
	cfg := &cobra.Command{Use: "config", Short: "Show the configuration"}
	cfg.AddCommand(&cobra.Command{
		Use:   "print",
		Short: "Print the effective configuration (flags > environment > --config file > defaults) as YAML",
		Long: `Print the configuration a run with the same flags, environment and --config
file would use, as YAML in the --config file's format: checked as a run
checks it (it fails where the run would), with the values the run would
use: AWS_XRAY_TRACING_NAME over service-name, max-connections capped by
--max-memory-mb, the memory shares filled in.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := opts.resolve(cmd.Flags(), env); err != nil {
				return err
			}
			return printConfig(stdout, cmd.Flags(), opts.effective())
		},
	})
	return cfg
}

// effective names the values a run uses where they are not the flag's
// as given: derived, capped, or overridden.
func (o *Options) effective() map[string]string {
	return map[string]string{
		"service-name":         o.ServiceName,
		"max-connections":      strconv.Itoa(o.MaxConnections),
		"max-reassembly-mb":    strconv.Itoa(o.ReassemblyMB),
		"max-header-buffer-mb": strconv.Itoa(o.HeaderBufferMB),
	}
}

// printConfig writes every flag's value as YAML, those of effective
// replaced.
func printConfig(w io.Writer, fs *pflag.FlagSet, effective map[string]string) error {
	vals := map[string]*yaml.Node{}
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden || f.Name == "help" || f.Name == "config" {
			return
		}
		if v, ok := effective[f.Name]; ok {
			n := &yaml.Node{Kind: yaml.ScalarNode, Value: v, Tag: "!!str"}
			if f.Value.Type() == "int" {
				n.Tag = "!!int"
			}
			vals[f.Name] = n
			return
		}
		if sv, ok := f.Value.(pflag.SliceValue); ok && mappingFlags[f.Name] {
			m := &yaml.Node{Kind: yaml.MappingNode}
			for _, item := range sv.GetSlice() {
				k, v, _ := strings.Cut(item, "=")
				m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k}, &yaml.Node{Kind: yaml.ScalarNode, Value: v, Tag: "!!str"})
			}
			if len(m.Content) == 0 {
				m.Style = yaml.FlowStyle
			}
			vals[f.Name] = m
			return
		} else if ok {
			seq := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
			for _, item := range sv.GetSlice() {
				seq.Content = append(seq.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: item, Tag: "!!int"})
			}
			vals[f.Name] = seq
			return
		}
		n := &yaml.Node{Kind: yaml.ScalarNode, Value: f.Value.String()}
		switch f.Value.Type() {
		case "int", "uint64":
			n.Tag = "!!int"
		case "bool":
			n.Tag = "!!bool"
		default:
			n.Tag = "!!str"
		}
		vals[f.Name] = n
	})
	names := make([]string, 0, len(vals))
	for n := range vals {
		names = append(names, n)
	}
	sort.Strings(names)
	var doc yaml.Node
	doc.Kind = yaml.MappingNode
	for _, n := range names {
		doc.Content = append(doc.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: n}, vals[n])
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return err
	}
	return enc.Close()
}
