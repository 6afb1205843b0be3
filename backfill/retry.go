package backfill

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// action is what the batch loop does about a failed attempt.
type action int

const (
	actAbort     action = iota // not transient: stop the job
	actRetry                   // wait and run the batch again
	actShrink                  // statement timeout: halve the batch, then retry
	actReconnect               // the connection or the server went away: reconnect, retry
	actFailover                // the server is read-only: reconnect, check it is the primary, retry
)

func (a action) String() string {
	return [...]string{"abort", "retry", "shrink", "reconnect", "failover"}[a]
}

// connLost is the label retries after a connection failure without an
// SQLSTATE are counted under.
const connLost = "connection"

// classify decides what to do about err and returns the label the retry is
// counted under (the SQLSTATE, or connLost).
func classify(err error) (action, string) {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		code := pgErr.Code
		switch {
		case code == "55P03", code == "40P01", code == "40001":
			return actRetry, code
		case code == "57014":
			return actShrink, code
		case strings.HasPrefix(code, "08"), code == "57P01", code == "57P02", code == "57P03":
			return actReconnect, code
		case code == "25006":
			return actFailover, code
		}
		return actAbort, code
	}
	if isConnError(err) {
		return actReconnect, connLost
	}
	return actAbort, ""
}

// isConnError reports whether err means the connection failed rather than
// the statement.
func isConnError(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	switch {
	case errors.As(err, &connectErr), errors.As(err, &netErr):
		return true
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EPIPE):
		return true
	case pgconn.SafeToRetry(err), pgconn.Timeout(err):
		return true
	}
	// pgx reports a connection that died earlier only by this text.
	return strings.Contains(err.Error(), "conn closed")
}

// backoff returns how long to sleep before retry number attempt (0-based):
// full jitter over an exponential ceiling from base to limit, so that many
// runners hitting the same lock do not retry in step.
func backoff(attempt int, base, limit time.Duration, rnd func(int64) int64) time.Duration {
	ceil := limit
	if attempt < 30 {
		if c := base << attempt; c > 0 && c < limit {
			ceil = c
		}
	}
	if rnd == nil {
		rnd = rand.Int64N
	}
	return time.Duration(rnd(int64(ceil) + 1))
}

const (
	backoffBase  = 100 * time.Millisecond
	backoffLimit = 10 * time.Second
)

// sleepCtx is the default sleep: it returns early with the context's error.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
