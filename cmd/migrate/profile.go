package main

import (
	"os"
	"runtime"
	"runtime/pprof"
)

// startProfile writes a CPU profile of the whole run to the file named by
// MIGRATE_CPUPROFILE, for work on the lint benchmark (make bench): the
// in-process Go benchmark misses the report writers and process start-up.
// It is a developer knob, deliberately not a flag.
func startProfile() (stop func()) {
	path := os.Getenv("MIGRATE_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// writeHeapProfile writes what is live once linting is done (before the
// report) to the file named by MIGRATE_MEMPROFILE: the peak of a lint run.
func writeHeapProfile() {
	path := os.Getenv("MIGRATE_MEMPROFILE")
	if path == "" {
		return
	}
	f, err := os.Create(path)
	if err != nil {
		return
	}
	defer f.Close()
	runtime.GC()
	_ = pprof.Lookup("heap").WriteTo(f, 0)
}
