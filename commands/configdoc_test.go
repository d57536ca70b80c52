//go:build !production

package commands

import (
	"bytes"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/wochit-ingest/wochit-ingest/internal/config"
)

const configurationDoc = "../docs/configuration.md"

// docs/configuration.md is what the generator makes of the code as it is:
// a setting added, removed or given another default without
// `go generate ./commands` fails here.
func TestConfigurationDocIsCurrent(t *testing.T) {
	committed, err := os.ReadFile(configurationDoc)
	if err != nil {
		t.Fatal(err)
	}
	if want := ConfigurationDoc(); !bytes.Equal(committed, want) {
		committedLines, wantLines := strings.Split(string(committed), "\n"), strings.Split(string(want), "\n")
		for i := range max(len(committedLines), len(wantLines)) {
			var got, exp string
			if i < len(committedLines) {
				got = committedLines[i]
			}
			if i < len(wantLines) {
				exp = wantLines[i]
			}
			if got != exp {
				t.Fatalf("docs/configuration.md is stale (run go generate ./commands); first difference, line %d:\n  committed: %s\n  generated: %s", i+1, got, exp)
			}
		}
	}
}

// docs/configuration.md's tables list every setting the code reads, each in
// a table that applies to its command: the command's own section ("## `worker`")
// or a shared one whose first line names the command ("Shared by `ingress`,
// `worker`…"). The variable and the flag are on one row. A generator that
// dropped a setting, or put it under another command, fails here.
func TestConfigurationDocDocumentsEverySetting(t *testing.T) {
	doc, err := os.ReadFile(configurationDoc)
	if err != nil {
		t.Fatal(err)
	}
	tables := settingTables(string(doc))
	if len(tables) == 0 {
		t.Fatal("found no configuration tables in docs/configuration.md")
	}
	for cmd, settings := range settingsByCommand() {
		var rows []string
		for _, tb := range tables {
			if slices.Contains(tb.commands, cmd) {
				rows = append(rows, tb.rows...)
			}
		}
		if len(rows) == 0 {
			t.Errorf("docs/configuration.md has no configuration table for %s", cmd)
			continue
		}
		for _, s := range settings {
			found := slices.ContainsFunc(rows, func(row string) bool {
				return (s.Env == "" || strings.Contains(row, "`"+s.Env+"`")) && (s.Flag == "" || strings.Contains(row, "`--"+s.Flag+"`"))
			})
			if !found {
				t.Errorf("docs/configuration.md's tables for %s have no row with %s", cmd, describeSetting(s))
			}
		}
	}
}

func describeSetting(s config.Setting) string {
	switch {
	case s.Env == "":
		return "--" + s.Flag
	case s.Flag == "":
		return s.Env
	}
	return s.Env + " and --" + s.Flag
}

// settingTable is one configuration table: the commands it applies to and
// its rows.
type settingTable struct {
	commands []string
	rows     []string
}

var backticked = regexp.MustCompile("`([a-z][a-z-]*)`")

// settingTables reads the tables of the configuration reference. A section
// "## `dev`" applies to dev; another applies to the commands its "Shared by"
// sentence names.
func settingTables(doc string) []settingTable {
	var tables []settingTable
	for _, section := range strings.Split(doc, "\n## ")[1:] {
		header, body, _ := strings.Cut(section, "\n")
		var commands []string
		if m := backticked.FindStringSubmatch(header); m != nil && strings.HasPrefix(header, "`") {
			commands = []string{m[1]}
		} else if _, shared, ok := strings.Cut(body, "Shared by "); ok {
			shared, _, _ = strings.Cut(shared, ".")
			for _, m := range backticked.FindAllStringSubmatch(shared, -1) {
				commands = append(commands, m[1])
			}
		}
		tb := settingTable{commands: commands}
		for _, line := range strings.Split(body, "\n") {
			if strings.HasPrefix(line, "| ") && !strings.HasPrefix(line, "| Variable |") && !strings.HasPrefix(line, "| --- |") {
				tb.rows = append(tb.rows, line)
			}
		}
		if len(tb.rows) > 0 {
			tables = append(tables, tb)
		}
	}
	return tables
}
