// Package topology is a test tier that runs wochit-ingest as production does
// and breaks it: PostgreSQL, the Temporal server as its own process on it, two
// `worker` and two `ingress` processes of the real binary, a GCS emulator, a
// throttled media origin and a verifying callback receiver in the test
// process. It kills a worker mid-video, restarts the Temporal server and
// PostgreSQL mid-transfer, sends 500 notifications across both ingresses, and
// checks that every notification answered 2xx was stored byte for byte and
// called back with exactly one video.stored id. Each fault is first proven to
// have happened (the process exited as intended while the origin was serving
// it videos; a new process took its place), then that nothing was lost. The
// Temporal server's 30 s outage must also cancel no transfer attempt: a
// video served in one stream is asked for once, and no activity of the
// phase starts a second attempt.
//
// It is behind the build tag `topology`, so `go test ./...` skips it. As
// .ci/run runs it (about 5½ minutes on two cores):
//
//	topology/setup.sh                                           # Debian: installs PostgreSQL
//	go test -count=1 -tags topology -timeout 30m -v ./topology
//
// The files, by what they hold:
//
//	topology_test.go   the test: its phases in order, the figures it prints
//	start_test.go      starting the topology and the wochit-ingest processes
//	kill_test.go       phase: SIGKILL a worker mid-video
//	restart_test.go    phases: restart the Temporal server, then PostgreSQL
//	load_test.go       phase: 500 notifications; the probe of new work
//	verify_test.go     phase: every promise kept, every object as the origin's
//	temporal_test.go   building and running the Temporal server, its schemas
//	postgres_test.go   a PostgreSQL cluster of the test's own
//	procs_test.go      child processes, logs, ports, polling
//	notify_test.go     notifications as Wochit sends them, and their delivery
//	origin_test.go     the media origin that tracks every request it serves
//	receiver_test.go   the customer's backend: verifies every callback
//	gcs_test.go        the GCS emulator on disk
//	cpu_test.go        who used the CPU during the load
//	repo_test.go       the only file importing this repository's packages
package topology
