// Command gendocs writes docs/configuration.md from the settings the
// commands declare (commands.ConfigurationDoc). Run it with
// `go generate ./commands`.
package main

import (
	"flag"
	"log"
	"os"

	"github.com/wochit-ingest/wochit-ingest/commands"
)

func main() {
	out := flag.String("o", "docs/configuration.md", "file to write")
	flag.Parse()
	if err := os.WriteFile(*out, commands.ConfigurationDoc(), 0o644); err != nil {
		log.Fatal(err)
	}
}
