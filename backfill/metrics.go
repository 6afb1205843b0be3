package backfill

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/migrate-tool/migrate/backfill/throttle"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the Prometheus series of one job. Every series carries the
// job label, so several jobs can share a registry.
type metrics struct {
	rows      prometheus.Counter
	batches   prometheus.Counter
	batchTime prometheus.Observer
	batchSize prometheus.Gauge
	throttled prometheus.Gauge
	lagSec    *prometheus.GaugeVec
	lagBytes  *prometheus.GaugeVec
	thrSec    *prometheus.CounterVec
	retries   *prometheus.CounterVec
	job       string

	mu      sync.Mutex
	lastThr map[string]time.Duration // gate totals already added to thrSec
}

func newMetrics(r prometheus.Registerer, job string) (m *metrics, err error) {
	if r == nil {
		return nil, nil
	}
	// register panics on a clash that is not a plain re-registration, such as
	// another collector using one of these names with other labels.
	defer func() {
		if p := recover(); p != nil {
			e, ok := p.(error)
			if !ok {
				panic(p)
			}
			m, err = nil, fmt.Errorf("registering backfill metrics: %w", e)
		}
	}()
	rows := register(r, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "backfill_rows_total", Help: "Rows changed (updated, or deleted by a delete job) by the backfill.",
	}, []string{"job"}))
	batches := register(r, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "backfill_batches_total", Help: "Batches committed.",
	}, []string{"job"}))
	batchTime := register(r, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "backfill_batch_seconds",
		Help:    "Duration of committed batches, from BEGIN to COMMIT.",
		Buckets: []float64{.005, .01, .025, .05, .1, .175, .25, .375, .5, .75, 1, 1.5, 2.5, 5, 10},
	}, []string{"job"}))
	batchSize := register(r, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "backfill_batch_size", Help: "Rows per batch the job is currently using.",
	}, []string{"job"}))
	throttled := register(r, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "backfill_throttled", Help: "1 while the lag gate holds the job back.",
	}, []string{"job"}))
	lagSec := register(r, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "backfill_lag_seconds", Help: "Replica time lag per lag source; NaN when unknown.",
	}, []string{"replica"}))
	lagBytes := register(r, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "backfill_lag_bytes", Help: "Replica byte lag per lag source; NaN when unknown.",
	}, []string{"replica"}))
	thrSec := register(r, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "backfill_throttle_seconds_total", Help: "Time the lag gate was closed, by reason.",
	}, []string{"job", "reason"}))
	retries := register(r, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "backfill_retries_total", Help: "Retried batch attempts by SQLSTATE.",
	}, []string{"job", "sqlstate"}))
	return &metrics{
		rows:      rows.WithLabelValues(job),
		batches:   batches.WithLabelValues(job),
		batchTime: batchTime.WithLabelValues(job),
		batchSize: batchSize.WithLabelValues(job),
		throttled: throttled.WithLabelValues(job),
		lagSec:    lagSec,
		lagBytes:  lagBytes,
		thrSec:    thrSec,
		retries:   retries,
		job:       job,
		lastThr:   map[string]time.Duration{},
	}, nil
}

// register registers c, or returns the collector already registered under
// the same description, so that a second job on the same registry shares it.
func register[C prometheus.Collector](r prometheus.Registerer, c C) C {
	if err := r.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err)
	}
	return c
}

func (m *metrics) batch(rows int64, d time.Duration, size int) {
	if m == nil {
		return
	}
	m.rows.Add(float64(rows))
	m.batches.Inc()
	m.batchTime.Observe(d.Seconds())
	m.batchSize.Set(float64(size))
}

func (m *metrics) retry(label string) {
	if m == nil {
		return
	}
	m.retries.WithLabelValues(m.job, label).Inc()
}

// gate copies the gate's readings and its per-reason throttle totals.
func (m *metrics) gate(st throttle.Status) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if st.Throttled {
		m.throttled.Set(1)
	} else {
		m.throttled.Set(0)
	}
	for reason, total := range st.ThrottledByReason {
		if d := total - m.lastThr[reason]; d > 0 {
			m.thrSec.WithLabelValues(m.job, reason).Add(d.Seconds())
			m.lastThr[reason] = total
		}
	}
	for _, rd := range st.Readings {
		sec, bytes := math.NaN(), math.NaN()
		if rd.Known {
			sec, bytes = rd.Lag.Seconds(), float64(rd.Bytes)
		}
		m.lagSec.WithLabelValues(rd.Source).Set(sec)
		m.lagBytes.WithLabelValues(rd.Source).Set(bytes)
	}
}
