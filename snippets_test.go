package hakit_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestSnippetsAreExamples: every Go snippet of the README and of the
// package documentation is a run of lines of an Example function, so that
// it compiles, runs (with its output checked where it has one) and stays in
// step with the code.
func TestSnippetsAreExamples(t *testing.T) {
	var examples [][]string // the lines of every file holding examples
	var docs []string       // the files whose doc comment may hold snippets
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != "." && (strings.HasPrefix(d.Name(), ".") || path == "internal" || path == "examples") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		switch {
		case strings.HasSuffix(path, "_test.go") && strings.Contains(string(b), "\nfunc Example"):
			examples = append(examples, normalize(strings.Split(string(b), "\n")))
		case strings.Contains(string(b), "\npackage ") && strings.HasPrefix(string(b), "//"):
			docs = append(docs, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	found := func(snippet []string) bool {
		s := normalize(snippet)
		for _, lines := range examples {
			for i := 0; i+len(s) <= len(lines); i++ {
				if equal(lines[i:i+len(s)], s) {
					return true
				}
			}
		}
		return false
	}

	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for i, block := range regexp.MustCompile("(?s)```go\n(.*?)```").FindAllStringSubmatch(string(readme), -1) {
		if !found(strings.Split(strings.TrimSuffix(block[1], "\n"), "\n")) {
			t.Errorf("README.md, Go block %d, is in no Example:\n%s", i+1, block[1])
		}
	}
	t.Logf("%d example files, %d documented files", len(examples), len(docs))
	for _, path := range docs {
		b, _ := os.ReadFile(path)
		for _, block := range codeBlocks(string(b)) {
			if !found(block) {
				t.Errorf("%s: a snippet in the package doc is in no Example:\n%s", path, strings.Join(block, "\n"))
			}
		}
	}
}

// layout matches the first line of a table of a wire format or of a MAC
// scheme, the blocks of the docs that are not code: "offset size field",
// "fam(1) proto(1) ...", "NetDefendMAC(c, p)   10:00:...".
var layout = regexp.MustCompile(`^(offset |[a-z]+\([0-9|]+\) |NetDefendMAC\(c, p\) )`)

// codeBlocks returns the indented blocks of the doc comment at the top of
// a file that are Go code (not the tables of wire formats and schemes).
func codeBlocks(src string) [][]string {
	var out [][]string
	var blk []string
	flush := func() {
		if len(blk) > 0 && !layout.MatchString(blk[0]) {
			out = append(out, blk)
		}
		blk = nil
	}
	for _, ln := range strings.Split(src, "\n") {
		if strings.HasPrefix(ln, "package ") {
			break
		}
		if s, ok := strings.CutPrefix(ln, "//\t"); ok {
			blk = append(blk, s)
			continue
		}
		flush()
	}
	flush()
	return out
}

// normalize drops the indentation, which differs between a snippet and the
// function holding it.
func normalize(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = strings.TrimLeft(l, "\t ")
	}
	return out
}

func equal(a, b []string) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
