package lint

import (
	"runtime"
	"sync"
)

// A large source is parsed and checked in windows of a few hundred
// statements, with the parser working ahead on the other cores, and each
// window's parse trees are dropped once it is checked. Parsing everything
// first held every tree until the end (about 100 MB for 20,000
// statements) and left the checking, which cannot be split, to start only
// after the last window was parsed.

// streamMinBytes is the size from which a source is streamed; below it
// the whole-source path costs less than setting up the pipeline. (Tests
// lower both sizes to stream small inputs in many windows.)
var streamMinBytes = 256 << 10

// streamWindowBytes is the text a window holds. pg_query's protobuf
// packing also runs faster on pieces of this size than on 64 KB ones.
var streamWindowBytes = 16 << 10

// streamJob is one window: a piece of one chunk, parsed into its
// top-level statements, each followed by the statements of its body.
type streamJob struct {
	parseJob
	tops   []*Statement
	bodies [][]*Statement
	done   chan struct{}
}

// lintStream lints one source window by window. It returns false, having
// restored the schema, when some window does not parse: the whole-source
// path then decides, as it always has, between a syntax error and skipped
// down code, and no statement of the source has been applied.
func lintStream(src *Source, schema *Schema, rules []*Rule, cfg *Config, log *findingLog, source int) (FileResult, []findingEntry, bool) {
	text := src.text()
	var jobs []*streamJob
	for ci, c := range src.Chunks {
		start, end := clampRange(c.Start, c.End, len(text))
		pieces := [][2]int{{start, end}}
		if c.Tx != TxImplicit {
			// An implicit-transaction chunk stays whole: whether it is one
			// transaction depends on its statement count.
			pieces = cutWindows(text, start, end, streamWindowBytes)
		}
		for _, r := range pieces {
			jobs = append(jobs, &streamJob{parseJob: parseJob{chunk: ci, start: r[0], end: r[1]}, done: make(chan struct{})})
		}
	}

	// Position builds its line table on first use; build it before the
	// workers, which attach ignore comments inside bodies, share it.
	src.Position(0)
	workers := runtime.GOMAXPROCS(0)
	if workers < 2 || len(jobs) < 2 {
		workers = 0 // parse each window just before checking it
	} else if release, ok := guardStderr(); ok {
		defer release()
	} else {
		workers = 0
	}
	// ahead bounds the windows parsed and not yet checked, and so the
	// trees alive at once.
	ahead := make(chan struct{}, 2*workers+2)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	if workers > 0 {
		next := make(chan int)
		go func() {
			defer close(next)
			for i := range jobs {
				select {
				case ahead <- struct{}{}:
				case <-stop:
					return
				}
				select {
				case next <- i:
				case <-stop:
					return
				}
			}
		}()
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					jobs[i].run(src, text)
				}
			}()
		}
	}
	finish := func() {
		close(stop)
		wg.Wait()
	}

	snapshot := schema.clone()
	a := newAnalyzer(src, schema, rules, cfg, log, source)
	tx := txAssigner{src: src}
	var (
		tops  []*Statement
		all   []*Statement
		owner = map[*Statement]*Statement{} // body statement -> its top-level statement
		chunk = -1
	)
	for _, j := range jobs {
		if workers == 0 {
			j.run(src, text)
		} else {
			<-j.done
		}
		if j.err != nil {
			finish()
			schema.restore(snapshot)
			return FileResult{}, nil, false
		}
		if j.chunk != chunk {
			if chunk >= 0 {
				tx.endChunk()
			}
			for chunk++; chunk < j.chunk; chunk++ {
				tx.beginChunk(chunk, 0) // every chunk has a window; this keeps transaction ids right if one had none
				tx.endChunk()
			}
			tx.beginChunk(j.chunk, len(j.tops))
		}
		for k, top := range j.tops {
			tx.assign(top)
			tops = append(tops, top)
			all = append(all, top)
			a.step(top)
			for _, b := range j.bodies[k] {
				b.Source = src
				b.Tx, b.InTxBlock, b.Explicit, b.Down = top.Tx, top.InTxBlock, top.Explicit, top.Down
				owner[b] = top
				all = append(all, b)
				a.step(b)
				b.Node = nil
			}
			top.Node = nil
		}
		j.tops, j.bodies = nil, nil
		if workers > 0 {
			<-ahead
		}
	}
	finish()
	if chunk >= 0 {
		tx.endChunk()
	}
	for chunk++; chunk < len(src.Chunks); chunk++ {
		tx.beginChunk(chunk, 0)
		tx.endChunk()
	}

	// Ignore comments are attached now that every statement's span is
	// known; a body statement gets its top-level statement's as well.
	top := make([]parsedStmt, len(tops))
	for i, st := range tops {
		top[i] = parsedStmt{st: st}
	}
	assignIgnores(src, text, top)
	for _, st := range all {
		if o := owner[st]; o != nil && len(o.Ignores) > 0 {
			st.Ignores = append(append([]Ignore(nil), o.Ignores...), st.Ignores...)
		}
	}
	return FileResult{Path: src.Path, Format: src.Format, Statements: countTopLevel(all)}, a.finish(all), true
}

// run parses the window and reads the bodies of its routines and DO
// blocks. It does not panic: a parser failure is the job's error, and a
// body that trips something is left unread, as Parse does.
func (j *streamJob) run(src *Source, text string) {
	defer close(j.done)
	j.parse(text)
	if j.err != nil {
		return
	}
	j.tops = j.statements(src, text)
	j.raw = nil // the statements hold the trees now, until they are checked
	j.bodies = make([][]*Statement, len(j.tops))
	for k, st := range j.tops {
		if hasBody(st.Node) {
			j.bodies[k] = safeExtractBody(text, st)
		}
	}
}

func safeExtractBody(text string, st *Statement) (out []*Statement) {
	defer func() {
		if recover() != nil {
			out = nil
		}
	}()
	return extractBody(text, st, 0)
}

// cutWindows splits [start, end) after top-level semicolons into pieces
// of about size bytes.
func cutWindows(text string, start, end, size int) [][2]int {
	var (
		out  [][2]int
		from = start
		sp   stmtSplitter
		s    = text[:end]
	)
	for i := start; i < end; {
		t := lexAt(s, i)
		if t.end <= i {
			break
		}
		if sp.feed(s, t) && t.end-from >= size {
			out = append(out, [2]int{from, t.end})
			from = t.end
		}
		i = t.end
	}
	if from < end || len(out) == 0 {
		out = append(out, [2]int{from, end})
	}
	return out
}
