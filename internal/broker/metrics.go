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
	rateLimited   *prometheus.CounterVec // by what was limited: send, member_send, hook, http, auth_hello, auth_hook, auth_admin
	authFailures  *prometheus.CounterVec // failed authentications by route: hello, hook, admin
	deliverySecs  prometheus.Histogram
	slowConsumers prometheus.Counter
	writeTimeouts prometheus.Counter
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
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claudemesh_rate_limited_total", Help: "Requests refused by a rate limit, by kind (send, member_send, hook, http, auth_hello, auth_hook, auth_admin)."}, []string{"kind"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claudemesh_auth_failures_total", Help: "Failed authentications by route (hello, hook, admin); they spend the client address's AUTH_FAILURES_PER_MIN."}, []string{"route"}),
		deliverySecs: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "claudemesh_delivery_latency_seconds", Help: "From a message's commit to its push written on a recipient's socket.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 20)}),
		slowConsumers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "claudemesh_slow_consumer_closes_total", Help: "Connections closed because their write queue filled."}),
		writeTimeouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "claudemesh_write_timeout_closes_total", Help: "Connections dropped because one socket write took longer than the write timeout."}),
		droppedAcks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "claudemesh_dropped_delivery_acks_total", Help: "Delivery acks not recorded because the ack queue was full (rows are redelivered)."}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "claudemesh_store_commit_seconds", Help: "Latency of one group-commit transaction.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		hooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claudemesh_hook_requests_total", Help: "POST /hook/set-status requests by result (ok or the error code)."}, []string{"result"}),
	}
	m.reg.MustRegister(m.connections, m.hellos, m.routed, m.rateLimited, m.authFailures, m.deliverySecs, m.slowConsumers, m.writeTimeouts, m.droppedAcks, m.commitSeconds, m.hooks)
	return m
}

// registerGauges adds the gauges computed from the broker's state at scrape
// time, so the hot path never updates them.
func (m *metrics) registerGauges(b *Broker) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "claudemesh_commit_queue_depth", Help: "Sends waiting for the group-commit writer."},
			func() float64 { return float64(len(b.commits.reqs)) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "claudemesh_held_messages", Help: "Messages held in memory by the priority gate of working/dnd sessions."},
			func() float64 { return float64(b.heldInMemory()) }),
	)
}

// heldInMemory counts gated messages across sessions (hub.mu, then each
// session.mu in turn: the documented lock order).
func (b *Broker) heldInMemory() int {
	n := 0
	for _, s := range b.hub.all() {
		s.mu.Lock()
		n += len(s.held)
		s.mu.Unlock()
	}
	return n
}

// CountRateLimited records a refusal by a rate limit outside the broker
// (the HTTP API's per-address limit), so /metrics shows every kind.
func (b *Broker) CountRateLimited(kind string) { b.metrics.rateLimited.WithLabelValues(kind).Inc() }

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
