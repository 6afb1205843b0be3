package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/migrate-tool/migrate/lint"
)

// migrate lint --changed-since REF: report only on the migration files a
// branch adds or changes, the way a pull request's diff shows them.
//
// Which files count as changed: those added, copied, modified or renamed
// between the merge base of REF and HEAD and the working tree (committed,
// staged and unstaged changes alike), plus untracked files that .gitignore
// does not hide. Diffing from the merge base rather than from REF itself
// keeps commits that landed on the base branch after the branch point out
// of the report; including the working tree lets a developer check a
// migration before committing it, and is a no-op on a CI checkout.
//
// Every file under the PATH arguments is still read and linted in version
// order, because earlier migrations create the tables later ones alter and
// the schema model needs them; only the report is narrowed to the changed
// files. Without PATH arguments the changed SQL files themselves are
// linted, with no earlier files to learn the schema from (unknown tables
// are treated as existing, so that errs towards reporting).

func changedSinceFlag() cli.Flag {
	return &cli.StringFlag{Name: "changed-since", Usage: "report only on migration files added or changed since the merge base of this git ref and HEAD (working-tree changes included); without PATH, lint the changed SQL files"}
}

// changedSet is what --changed-since selected.
type changedSet struct {
	ref   string
	base  string          // the merge-base commit
	files map[string]bool // canonical paths (see canonical)
	keep  map[string]bool // PATH arguments, canonical: their read errors are never dropped
}

// changedSince resolves --changed-since against the git work tree around
// the working directory. It returns nil when the flag is not set, and the
// paths to read: paths itself, or the changed SQL files when paths is
// empty.
func changedSince(c *cli.Context, paths []string) (*changedSet, []string, error) {
	if !c.IsSet("changed-since") {
		return nil, paths, nil
	}
	ref := c.String("changed-since")
	if strings.TrimSpace(ref) == "" {
		return nil, nil, usageErrorf("lint: --changed-since needs a git ref (a branch, tag or commit)")
	}
	if slices.Contains(paths, "-") {
		return nil, nil, usageErrorf("lint: --changed-since selects files from git; it cannot be combined with - (standard input)")
	}
	top, err := git("", "rev-parse", "--show-toplevel")
	if err != nil {
		return nil, nil, usageErrorf("lint: --changed-since needs a git work tree: %v", err)
	}
	top = strings.TrimSpace(top)
	if _, err := git(top, "rev-parse", "--verify", "--quiet", "--end-of-options", ref+"^{commit}"); err != nil {
		return nil, nil, usageErrorf("lint: --changed-since: %q is not a commit in this repository (a shallow CI clone may lack it: fetch it, or check out with full history)", ref)
	}
	base, err := git(top, "merge-base", "--end-of-options", ref, "HEAD")
	if err != nil {
		return nil, nil, usageErrorf("lint: --changed-since: no merge base of %q and HEAD (a shallow clone may cut the history short: fetch with full history): %v", ref, err)
	}
	base = strings.TrimSpace(base)

	// --no-relative: diff.relative in a user's config would otherwise make
	// the names relative to a subdirectory and silently drop files.
	diff, err := git(top, "diff", "--name-only", "-z", "--no-relative", "--diff-filter=ACMR", base, "--")
	if err != nil {
		return nil, nil, usageErrorf("lint: --changed-since: %v", err)
	}
	untracked, err := git(top, "ls-files", "-z", "--others", "--exclude-standard")
	if err != nil {
		return nil, nil, usageErrorf("lint: --changed-since: %v", err)
	}

	cs := &changedSet{ref: ref, base: base, files: map[string]bool{}, keep: map[string]bool{}}
	var names []string
	for _, name := range strings.Split(diff+untracked, "\x00") {
		if name == "" {
			continue
		}
		p := filepath.Join(top, filepath.FromSlash(name))
		if !cs.files[canonical(p)] {
			names = append(names, p)
		}
		cs.files[canonical(p)] = true
	}
	for _, p := range paths {
		cs.keep[canonical(p)] = true
	}
	if len(paths) > 0 {
		return cs, paths, nil
	}

	// Markdown is left out here: a repository's READMEs hold SQL examples
	// that are not migrations. Name the files or directories to lint them.
	wd, _ := os.Getwd()
	slices.Sort(names)
	var out []string
	for _, p := range names {
		switch strings.ToLower(filepath.Ext(p)) {
		case ".sql", ".psql", ".pgsql":
		default:
			continue
		}
		if rel, err := filepath.Rel(wd, p); err == nil && wd != "" && !strings.HasPrefix(rel, "..") {
			p = rel
		}
		out = append(out, p)
	}
	return cs, out, nil
}

// narrow drops from res what belongs to unchanged files. Input errors in
// unchanged files are dropped too (the branch did not cause them), but
// counted on stderr since they leave a gap in the schema model; errors on
// a PATH argument itself, such as a mistyped directory, stay fatal.
func (cs *changedSet) narrow(res *lint.Result, stderr io.Writer) {
	if cs == nil {
		return
	}
	memo := map[string]bool{}
	changed := func(p string) bool {
		v, ok := memo[p]
		if !ok {
			v = cs.files[canonical(p)]
			memo[p] = v
		}
		return v
	}
	res.Findings = slices.DeleteFunc(res.Findings, func(f lint.Finding) bool { return !changed(f.File) })
	res.Files = slices.DeleteFunc(res.Files, func(f lint.FileResult) bool { return !changed(f.Path) })
	dropped := 0
	res.Errors = slices.DeleteFunc(res.Errors, func(e lint.Error) bool {
		if changed(e.File) || cs.keep[canonical(e.File)] {
			return false
		}
		dropped++
		return true
	})
	if dropped > 0 {
		fmt.Fprintf(stderr, "migrate: lint: note: %d problem(s) in files unchanged since %s were ignored; those files are missing from the schema model (lint without --changed-since to see them)\n", dropped, cs.ref)
	}
	if len(res.Files) == 0 {
		fmt.Fprintf(stderr, "migrate: lint: no migration files changed since %s (merge base %.12s)\n", cs.ref, cs.base)
	}
}

// canonical makes a path given relative to the working directory and one
// git gave relative to the top of the work tree comparable: absolute, with
// symbolic links resolved (a temporary directory or a checkout under a
// symlinked home would otherwise differ).
func canonical(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return filepath.Clean(p)
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		return r
	}
	// A file that no longer exists cannot be resolved as a whole; its
	// directory usually can.
	if dir, err := filepath.EvalSymlinks(filepath.Dir(abs)); err == nil {
		return filepath.Join(dir, filepath.Base(abs))
	}
	return abs
}

// git runs git in dir (the working directory when empty) and returns its
// standard output; the error carries git's own message.
func git(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return "", errors.New("git is not installed or not on PATH")
		}
		if msg := strings.TrimSpace(errb.String()); msg != "" {
			return "", errors.New(msg)
		}
		return "", fmt.Errorf("git %s: %v", args[0], err)
	}
	return out.String(), nil
}
