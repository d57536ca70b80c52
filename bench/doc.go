// Package bench holds the benchmarks behind BENCHMARKS.md. Each measures
// wochit-ingest against a baseline in the same run — a plain relay, a bare
// handler, a no-op workflow — and reports the ratio, because the machines it
// runs on are shared and noisy. Transfers run in child processes so their CPU
// time and peak RSS are theirs alone; the media origin and the streaming GCS
// sink run in the benchmark process (BenchmarkEmulatorMemory instead runs
// dev's GCS emulator inside the child).
package bench
