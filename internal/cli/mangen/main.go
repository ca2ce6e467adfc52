package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"github.com/certctl/certctl/internal/cli"
)

func main() {
	dir := flag.String("dir", "man/man1", "directory to write the pages to (created)")
	version := flag.String("version", "dev", "certctl version named in the pages' footer")
	flag.Parse()
	date := time.Now()
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			fmt.Fprintf(os.Stderr, "mangen: SOURCE_DATE_EPOCH %q: not a number of seconds\n", s)
			os.Exit(2)
		}
		date = time.Unix(sec, 0).UTC()
	}
	pages, err := generate(*dir, *version, date)
	if err != nil {
		fmt.Fprintf(os.Stderr, "mangen: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("%d man pages in %s\n", len(pages), *dir)
}

// generate writes the page of every command to dir and returns their file
// names. The command tree is built with an empty environment, so that the
// defaults shown do not depend on the machine's CERTCTL_* variables.
func generate(dir, version string, date time.Time) ([]string, error) {
	root := cli.NewRootCmd(&cli.Deps{Stdout: io.Discard, Stderr: io.Discard, Version: version,
		Getenv: func(string) string { return "" }})
	root.DisableAutoGenTag = true
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	header := &doc.GenManHeader{Title: "CERTCTL", Section: "1", Date: &date, Source: "certctl " + version, Manual: "certctl manual"}
	if err := doc.GenManTree(root, header, dir); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	var pages []string
	for _, c := range commands(root) {
		pages = append(pages, filepath.Join(dir, pageName(c)))
	}
	return pages, nil
}

// commands lists c and the commands under it that get a page.
func commands(c *cobra.Command) []*cobra.Command {
	out := []*cobra.Command{c}
	for _, s := range c.Commands() {
		if s.IsAvailableCommand() && !s.IsAdditionalHelpTopicCommand() {
			out = append(out, commands(s)...)
		}
	}
	return out
}

// pageName is the file of c's page: its command path joined by "-".
func pageName(c *cobra.Command) string {
	return strings.ReplaceAll(c.CommandPath(), " ", "-") + ".1"
}
