package migrate

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/migrate-tool/migrate/lint"
)

// Live is what `migrate plan --dsn` reads before planning: the same model
// `apply` plans with, so the two print the same steps for one database.
type Live struct {
	Schema    *lint.Schema
	PGVersion int
	// TimeZone is the session default the plan's statements would run
	// under; it decides whether timestamp <-> timestamptz rewrites.
	TimeZone string
}

// ReadLive reads the live catalog in one READ ONLY, REPEATABLE READ
// transaction, so planning can never change the database it plans for and
// sees one consistent snapshot of it. conn should come from
// lint.ConnectCatalog, whose session is read-only with short timeouts.
func ReadLive(ctx context.Context, conn *pgx.Conn, stateSchema string) (*Live, error) {
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck // read-only: nothing to lose
	cat, err := lint.ReadCatalogFrom(ctx, tx, lint.CatalogOptions{ExcludeSchema: stateSchema, SchemaOnly: true})
	if err != nil {
		return nil, fmt.Errorf("reading the schema: %w", err)
	}
	l := &Live{Schema: cat.Schema, PGVersion: cat.PGVersion(), TimeZone: cat.TimeZone}
	return l, nil
}
