package devstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	serverlog "go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
	"go.temporal.io/server/common/membership/static"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"

	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// Namespace is the namespace `dev` creates and uses.
const Namespace = "default"

// searchAttributes are registered on the dev namespace (all Keyword) so
// operators can find runs by video id or context and see where each run is.
func searchAttributes() map[string]enumspb.IndexedValueType {
	m := map[string]enumspb.IndexedValueType{}
	for _, name := range workflows.SearchAttributes {
		m[name] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
	}
	return m
}

// temporalServer is a complete Temporal server (frontend, history, matching,
// worker services) in this process, persisting to one SQLite file.
type temporalServer struct {
	server temporal.Server
	addr   string
}

// startTemporal starts the server with its frontend on addr. The database
// file is created with the schema on first start and reused afterwards, so
// workflows survive restarts.
func startTemporal(dbFile, addr string, logger *slog.Logger) (*temporalServer, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("temporal address %q: %w", addr, err)
	}
	frontendPort, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("temporal address %q: bad port", addr)
	}
	sqlConf := &config.SQL{
		PluginName:   sqliteplugin.PluginName,
		DatabaseName: dbFile,
		ConnectAttributes: map[string]string{
			"mode": "rwc",
			// WAL keeps readers off the writer's back; synchronous=NORMAL in WAL
			// mode loses nothing when the process is killed (only a power cut
			// could drop the last transactions), which suits a dev stack.
			"journal_mode": "wal",
			"synchronous":  "1",
			"busy_timeout": "10000",
		},
		// One connection: with SQLite's single writer, more connections only
		// wait on each other (measured: 4 halved throughput; BENCHMARKS.md).
	}
	if _, err := os.Stat(dbFile); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(dbFile), 0o755); err != nil {
			return nil, err
		}
		if err := sqliteschema.SetupSchema(sqlConf); err != nil {
			return nil, fmt.Errorf("creating Temporal schema in %s: %w", dbFile, err)
		}
	}
	ns, err := sqliteschema.NewNamespaceConfig("active", Namespace, false, searchAttributes())
	if err != nil {
		return nil, err
	}
	if err := sqliteschema.CreateNamespaces(sqlConf, ns); err != nil {
		return nil, fmt.Errorf("creating namespace %s: %w", Namespace, err)
	}

	ports, err := freePorts(host, 4) // frontend HTTP, history, matching, worker
	if err != nil {
		return nil, err
	}
	hostPort := func(p int) string { return net.JoinHostPort(host, strconv.Itoa(p)) }
	conf := &config.Config{}
	conf.Global.Membership.BroadcastAddress = host
	conf.Persistence.DefaultStore = "sqlite"
	conf.Persistence.VisibilityStore = "sqlite"
	conf.Persistence.NumHistoryShards = 1
	conf.Persistence.DataStores = map[string]config.DataStore{"sqlite": {SQL: sqlConf}}
	conf.ClusterMetadata = &cluster.Config{
		EnableGlobalNamespace:    false,
		FailoverVersionIncrement: 10,
		MasterClusterName:        "active",
		CurrentClusterName:       "active",
		ClusterInformation: map[string]cluster.ClusterInformation{
			"active": {
				Enabled:                true,
				InitialFailoverVersion: 1,
				RPCAddress:             addr,
				HTTPAddress:            hostPort(ports[0]),
				ClusterID:              "wochit-ingest-dev",
			},
		},
	}
	conf.DCRedirectionPolicy.Policy = "noop"
	service := func(grpcPort, httpPort int) config.Service {
		return config.Service{RPC: config.RPC{GRPCPort: grpcPort, HTTPPort: httpPort, BindOnIP: host}}
	}
	conf.Services = map[string]config.Service{
		"frontend": service(frontendPort, ports[0]),
		"history":  service(ports[1], 0),
		"matching": service(ports[2], 0),
		"worker":   service(ports[3], 0),
	}
	conf.Archival.History.State = "disabled"
	conf.Archival.Visibility.State = "disabled"
	conf.NamespaceDefaults.Archival.History.State = "disabled"
	conf.NamespaceDefaults.Archival.Visibility.State = "disabled"
	conf.PublicClient.HostPort = addr

	// The server is chatty at info level; show its warnings unless debugging.
	srvLogger := slogAdapter{l: logger.With("component", "temporal-server"), min: slog.LevelWarn}
	if logger.Enabled(context.Background(), slog.LevelDebug) {
		srvLogger.min = slog.LevelDebug
	}
	authorizer, err := authorization.GetAuthorizerFromConfig(&conf.Global.Authorization)
	if err != nil {
		return nil, err
	}
	claimMapper, err := authorization.GetClaimMapperFromConfig(&conf.Global.Authorization, srvLogger)
	if err != nil {
		return nil, err
	}
	srv, err := temporal.NewServer(
		temporal.WithConfig(conf),
		temporal.ForServices(temporal.DefaultServices),
		// Static membership: one process, no gossip ports to find.
		temporal.WithStaticHosts(map[primitives.ServiceName]static.Hosts{
			primitives.FrontendService: static.SingleLocalHost(addr),
			primitives.HistoryService:  static.SingleLocalHost(hostPort(ports[1])),
			primitives.MatchingService: static.SingleLocalHost(hostPort(ports[2])),
			primitives.WorkerService:   static.SingleLocalHost(hostPort(ports[3])),
		}),
		temporal.WithLogger(srvLogger),
		temporal.WithAuthorizer(authorizer),
		temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return claimMapper }),
		temporal.WithDynamicConfigClient(dynamicconfig.StaticClient{
			// Search attributes registered a moment ago must be usable at once.
			dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key():      true,
			dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): 100,
			// One process, one host: a single task queue partition saves the
			// fan-out of polls, and eager activities save a round trip per
			// activity scheduled on the workflow's own queue.
			dynamicconfig.MatchingNumTaskqueueReadPartitions.Key():  1,
			dynamicconfig.MatchingNumTaskqueueWritePartitions.Key(): 1,
			dynamicconfig.EnableActivityEagerExecution.Key():        true,
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("creating Temporal server: %w", err)
	}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("starting Temporal server: %w", err)
	}
	return &temporalServer{server: srv, addr: addr}, nil
}

func (t *temporalServer) stop() error { return t.server.Stop() }

// freePorts asks the kernel for n free ports on host. Another process could
// take one before the server binds it; that is an accepted risk for a dev
// stack and tests, and shows up as a clear bind error.
func freePorts(host string, n int) ([]int, error) {
	var ports []int
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, err
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// slogAdapter lets the Temporal server log through slog.
type slogAdapter struct {
	l   *slog.Logger
	min slog.Level
}

func (a slogAdapter) log(level slog.Level, msg string, tags []tag.Tag) {
	if level < a.min || !a.l.Enabled(context.Background(), level) {
		return
	}
	attrs := make([]any, 0, len(tags))
	for _, t := range tags {
		attrs = append(attrs, slog.Any(t.Key(), t.Value()))
	}
	a.l.Log(context.Background(), level, msg, attrs...)
}

func (a slogAdapter) Debug(msg string, tags ...tag.Tag)  { a.log(slog.LevelDebug, msg, tags) }
func (a slogAdapter) Info(msg string, tags ...tag.Tag)   { a.log(slog.LevelInfo, msg, tags) }
func (a slogAdapter) Warn(msg string, tags ...tag.Tag)   { a.log(slog.LevelWarn, msg, tags) }
func (a slogAdapter) Error(msg string, tags ...tag.Tag)  { a.log(slog.LevelError, msg, tags) }
func (a slogAdapter) DPanic(msg string, tags ...tag.Tag) { a.log(slog.LevelError, msg, tags) }
func (a slogAdapter) Panic(msg string, tags ...tag.Tag) {
	a.log(slog.LevelError, msg, tags)
	panic(msg)
}
func (a slogAdapter) Fatal(msg string, tags ...tag.Tag) {
	a.log(slog.LevelError, msg, tags)
	// The process ends here, before a test's buffered logs are printed:
	// say why on stderr directly, or the exit has no visible cause.
	fmt.Fprintf(os.Stderr, "embedded Temporal server: fatal: %s", msg)
	for _, t := range tags {
		fmt.Fprintf(os.Stderr, " %s=%v", t.Key(), t.Value())
	}
	fmt.Fprintln(os.Stderr)
	os.Exit(1)
}

var _ serverlog.Logger = slogAdapter{}
