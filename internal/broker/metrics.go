package broker

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics uses a registry per broker so several brokers can live in one
// test process.
type metrics struct {
	reg           *prometheus.Registry
	connections   prometheus.Gauge
	hellos        *prometheus.CounterVec
	routed        *prometheus.CounterVec
	rateLimited   prometheus.Counter
	slowConsumers prometheus.Counter
	droppedAcks   prometheus.Counter
	commitSeconds prometheus.Histogram
	hooks         *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "claudemesh_connections", Help: "Authenticated WebSocket sessions on this node."}),
		hellos: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claudemesh_hellos_total", Help: "Hello attempts by result code (ok or the error code)."}, []string{"result"}),
		routed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claudemesh_messages_routed_total", Help: "Committed messages by priority and kind."}, []string{"priority", "kind"}),
		rateLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "claudemesh_rate_limited_total", Help: "Sends refused with rate_limited."}),
		slowConsumers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "claudemesh_slow_consumer_closes_total", Help: "Connections closed because their write queue filled."}),
		droppedAcks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "claudemesh_dropped_delivery_acks_total", Help: "Delivery acks not recorded because the ack queue was full (rows are redelivered)."}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "claudemesh_store_commit_seconds", Help: "Latency of one group-commit transaction.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		hooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claudemesh_hook_requests_total", Help: "POST /hook/set-status requests by result (ok or the error code)."}, []string{"result"}),
	}
	m.reg.MustRegister(m.connections, m.hellos, m.routed, m.rateLimited, m.slowConsumers, m.droppedAcks, m.commitSeconds, m.hooks)
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
