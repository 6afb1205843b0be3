package pgtest

// The container backend (MIGRATE_TEST_PG_IMAGE, e.g. postgres:16; 13 or later
// for wal_keep_size): the
// official postgres image as primary, and a second container of it that
// clones the primary with pg_basebackup and runs as its standby.

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"
)

var docker struct {
	once sync.Once
	err  error
}

// dockerReachable pings the engine once per process. The client library
// panics in some misconfigurations, which must read as "not reachable".
func dockerReachable() error {
	docker.once.Do(func() {
		defer func() {
			if r := recover(); r != nil {
				docker.err = fmt.Errorf("docker client: %v", r)
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		cli, err := testcontainers.NewDockerClientWithOpts(ctx)
		if err != nil {
			docker.err = err
			return
		}
		defer cli.Close()
		_, docker.err = cli.Ping(ctx)
	})
	return docker.err
}

type dockerCluster struct {
	standby *testcontainers.DockerContainer
	node    *Node
}

// The image's initdb only allows replication from localhost.
const replicationHBA = `#!/bin/sh
echo "host replication all all trust" >> "$PGDATA/pg_hba.conf"
`

// standbyEntrypoint clones the primary on first start (a restart keeps the
// data) and then runs the server command given as arguments.
const standbyEntrypoint = `set -e
if [ ! -s "$PGDATA/PG_VERSION" ]; then
	until pg_basebackup -D "$PGDATA" -R -X stream -c fast \
		-d "host=primary port=5432 user=postgres application_name=` + standbyAppName + `"; do
		rm -rf "$PGDATA"; sleep 0.5
	done
fi
exec "$@"
`

func startDocker(t testing.TB, image string, opts Options) *Cluster {
	t.Helper()
	// Generous: the first run pulls the image.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	began := time.Now()

	nw, err := network.New(ctx)
	testcontainers.CleanupNetwork(t, nw)
	if err != nil {
		t.Fatalf("pgtest: docker network: %v", err)
	}
	cmd := serverCommand(opts)
	primary, err := testcontainers.Run(ctx, image,
		network.WithNetwork([]string{"primary"}, nw),
		testcontainers.WithEnv(map[string]string{"POSTGRES_HOST_AUTH_METHOD": "trust", "POSTGRES_DB": DefaultDB}),
		testcontainers.WithFiles(testcontainers.ContainerFile{
			Reader: strings.NewReader(replicationHBA), FileMode: 0o755,
			ContainerFilePath: "/docker-entrypoint-initdb.d/pgtest-replication.sh",
		}),
		testcontainers.WithCmd(cmd...),
		testcontainers.WithExposedPorts("5432/tcp"),
		// The entrypoint starts a temporary server for initdb scripts first.
		testcontainers.WithWaitStrategy(wait.ForLog("database system is ready to accept connections").
			WithOccurrence(2).WithStartupTimeout(3*time.Minute)),
	)
	testcontainers.CleanupContainer(t, primary)
	if err != nil {
		t.Fatalf("pgtest: primary container: %v", err)
	}
	c := &Cluster{opts: opts, noStandby: "the cluster was started with Options.NoStandby"}
	if c.Primary, err = containerNode(ctx, "primary", primary); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	if opts.NoStandby {
		t.Logf("pgtest: %s primary ready in %s", image, time.Since(began).Round(time.Millisecond))
		return c
	}

	standby, err := testcontainers.Run(ctx, image,
		network.WithNetwork([]string{"standby"}, nw),
		testcontainers.WithEnv(map[string]string{"PGDATA": "/var/lib/postgresql/pgtest-standby"}),
		testcontainers.WithConfigModifier(func(cfg *container.Config) { cfg.User = "postgres" }),
		testcontainers.WithEntrypoint("bash", "-c", standbyEntrypoint, "pgtest-standby"),
		testcontainers.WithCmd(cmd...),
		testcontainers.WithExposedPorts("5432/tcp"),
		testcontainers.WithWaitStrategy(wait.ForLog("database system is ready to accept read-only connections").
			WithStartupTimeout(2*time.Minute)),
	)
	testcontainers.CleanupContainer(t, standby)
	if err != nil {
		t.Fatalf("pgtest: standby container: %v", err)
	}
	d := &dockerCluster{standby: standby}
	if d.node, err = containerNode(ctx, "standby", standby); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	c.Standby, c.b = d.node, d
	if err := c.waitStreaming(ctx); err != nil {
		t.Fatalf("%v", err)
	}
	t.Logf("pgtest: %s primary and standby ready in %s", image, time.Since(began).Round(time.Millisecond))
	return c
}

// serverCommand is the postgres command line with the same settings the
// local backend writes to postgresql.conf.
func serverCommand(opts Options) []string {
	walLevel := "replica"
	if opts.Logical {
		walLevel = "logical"
	}
	settings := map[string]string{
		"fsync": "off", "full_page_writes": "off", "shared_buffers": "32MB", "wal_level": walLevel,
		"max_wal_senders": "10", "max_replication_slots": "10", "wal_keep_size": "256MB",
		"hot_standby": "on", "wal_receiver_status_interval": "1s",
	}
	for k, v := range opts.Settings {
		settings[k] = v
	}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	cmd := []string{"postgres"}
	for _, k := range keys {
		cmd = append(cmd, "-c", k+"="+settings[k])
	}
	return cmd
}

func containerNode(ctx context.Context, name string, ctr *testcontainers.DockerContainer) (*Node, error) {
	n := &Node{Name: name}
	return n, refreshEndpoint(ctx, n, ctr)
}

// refreshEndpoint reads the host port Docker mapped, which changes when a
// container is restarted.
func refreshEndpoint(ctx context.Context, n *Node, ctr *testcontainers.DockerContainer) error {
	host, err := ctr.Host(ctx)
	if err != nil {
		return fmt.Errorf("%s container host: %w", n.Name, err)
	}
	port, err := ctr.MappedPort(ctx, "5432/tcp")
	if err != nil {
		return fmt.Errorf("%s container port: %w", n.Name, err)
	}
	n.Host, n.Port = host, port.Int()
	return nil
}

func (d *dockerCluster) stopStandby(ctx context.Context) error {
	timeout := 30 * time.Second
	return d.standby.Stop(ctx, &timeout)
}

// startStandby restarts the container; Standby.Port may change.
func (d *dockerCluster) startStandby(ctx context.Context) error {
	if err := d.standby.Start(ctx); err != nil {
		return err
	}
	return refreshEndpoint(ctx, d.node, d.standby)
}
