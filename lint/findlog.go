package lint

import (
	"encoding/binary"

	"github.com/klauspost/compress/s2"
)

// findingLog holds a run's findings encoded and compressed, in the order
// they were reported. A finding is about a kilobyte of explanation and
// SQL, and a large migration has tens of thousands of them: kept as
// structs they were most of a lint run's memory. The messages of one rule
// differ only in names, so a block of them compresses several times over.
//
// Strings that repeat across findings (file, rule, doc, lock modes) are
// stored once and referred to by number.
type findingLog struct {
	blocks  [][]byte // sealed blocks, s2-compressed
	open    []byte   // the block being written, raw
	scratch []byte   // the compressor's output buffer

	strs  []string
	strID map[string]uint32

	// The last sealed block read back: readers go through the log in
	// order, so one block is decompressed once.
	cachedBlock int // index+1; 0 = none
	cache       []byte
}

// findingRef locates one finding in a findingLog.
type findingRef struct {
	block int32 // index in blocks; len(blocks) while its block is open
	off   int32 // offset in the block's raw bytes
}

// logBlockBytes is the raw size at which a block is sealed: large enough
// for the compressor to see many findings of the same rule, small enough
// that reading one back costs little.
const logBlockBytes = 128 << 10

func newFindingLog() *findingLog {
	return &findingLog{strID: map[string]uint32{}}
}

// add appends f and returns where it is.
func (l *findingLog) add(f *Finding) findingRef {
	if len(l.open) >= logBlockBytes {
		l.seal()
	}
	ref := findingRef{block: int32(len(l.blocks)), off: int32(len(l.open))}
	b := l.open
	b = l.appendShared(b, f.File)
	b = binary.AppendUvarint(b, uint64(f.Line))
	b = binary.AppendUvarint(b, uint64(f.Column))
	b = binary.AppendUvarint(b, uint64(f.EndLine))
	b = binary.AppendUvarint(b, uint64(f.EndColumn))
	b = l.appendShared(b, f.Rule)
	b = binary.AppendUvarint(b, uint64(f.Severity))
	b = appendLogString(b, f.Message)
	b = appendLogString(b, f.Statement)
	b = appendLogLen(b, len(f.Locks), f.Locks == nil)
	for _, lk := range f.Locks {
		b = appendLogString(b, lk.Relation)
		b = l.appendShared(b, lk.Mode)
		b = appendLogLen(b, len(lk.Blocks), lk.Blocks == nil)
		for _, s := range lk.Blocks {
			b = l.appendShared(b, s)
		}
	}
	var flags byte
	if f.Rewrite {
		flags |= 1
	}
	if f.Scan {
		flags |= 2
	}
	b = append(b, flags)
	b = appendLogString(b, f.Fix)
	b = l.appendShared(b, f.Doc)
	l.open = b
	return ref
}

// seal compresses the open block. The log stays writable.
func (l *findingLog) seal() {
	if len(l.open) == 0 {
		return
	}
	// Encode wants room for the worst case, larger than the input; the
	// block keeps only what the compressed bytes need.
	l.scratch = s2.Encode(l.scratch[:cap(l.scratch)], l.open)
	l.blocks = append(l.blocks, append([]byte(nil), l.scratch...))
	l.open = l.open[:0]
}

// read decodes the finding at ref into f. The strings it sets are f's own.
func (l *findingLog) read(ref findingRef, f *Finding) {
	var data []byte
	if int(ref.block) == len(l.blocks) {
		data = l.open
	} else {
		if l.cachedBlock != int(ref.block)+1 {
			var err error
			l.cache, err = s2.Decode(l.cache[:cap(l.cache)], l.blocks[ref.block])
			if err != nil {
				// The log never leaves the process: a block that does
				// not decode is memory corruption, not bad input.
				panic("lint: finding log block corrupt: " + err.Error())
			}
			l.cachedBlock = int(ref.block) + 1
		}
		data = l.cache
	}
	r := logReader{b: data[ref.off:], strs: l.strs}
	f.File = r.shared()
	f.Line = r.int()
	f.Column = r.int()
	f.EndLine = r.int()
	f.EndColumn = r.int()
	f.Rule = r.shared()
	f.Severity = Severity(r.int())
	f.Message = r.string()
	f.Statement = r.string()
	if n, isNil := r.len(); isNil {
		f.Locks = nil
	} else {
		f.Locks = make([]Lock, n)
		for i := range f.Locks {
			lk := &f.Locks[i]
			lk.Relation = r.string()
			lk.Mode = r.shared()
			if m, isNil := r.len(); !isNil {
				lk.Blocks = make([]string, m)
				for j := range lk.Blocks {
					lk.Blocks[j] = r.shared()
				}
			}
		}
	}
	flags := r.byte()
	f.Rewrite, f.Scan = flags&1 != 0, flags&2 != 0
	f.Fix = r.string()
	f.Doc = r.shared()
}

// size is the memory the log holds, for tests and benchmarks.
func (l *findingLog) size() int {
	n := cap(l.open) + cap(l.cache) + cap(l.scratch)
	for _, b := range l.blocks {
		n += cap(b)
	}
	return n
}

func (l *findingLog) appendShared(b []byte, s string) []byte {
	id, ok := l.strID[s]
	if !ok {
		id = uint32(len(l.strs))
		l.strs = append(l.strs, s)
		l.strID[s] = id
	}
	return binary.AppendUvarint(b, uint64(id))
}

func appendLogString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendLogLen writes a slice length, keeping nil apart from empty: the
// JSON contract prints both as [], but a Finding read back must compare
// equal to the one added.
func appendLogLen(b []byte, n int, isNil bool) []byte {
	if isNil {
		return binary.AppendUvarint(b, 0)
	}
	return binary.AppendUvarint(b, uint64(n)+1)
}

type logReader struct {
	b    []byte
	strs []string
}

func (r *logReader) int() int {
	v, n := binary.Uvarint(r.b)
	r.b = r.b[n:]
	return int(v)
}

func (r *logReader) byte() byte {
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *logReader) string() string {
	n := r.int()
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *logReader) shared() string { return r.strs[r.int()] }

func (r *logReader) len() (n int, isNil bool) {
	v := r.int()
	if v == 0 {
		return 0, true
	}
	return v - 1, false
}
