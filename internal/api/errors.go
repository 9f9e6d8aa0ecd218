package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/claudemesh/claudemesh/internal/store"
)

// Error is an HTTP error with its invites.md code and a sentence for people.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func malformed(format string, args ...any) *Error {
	return errorf(http.StatusBadRequest, "malformed", format, args...)
}

func badSignature(format string, args ...any) *Error {
	return errorf(http.StatusBadRequest, "bad_signature", format, args...)
}

func notFound(format string, args ...any) *Error {
	return errorf(http.StatusNotFound, "not_found", format, args...)
}

var (
	errForbidden   = errorf(http.StatusForbidden, "forbidden", "this key is not an admin of that mesh")
	errRateLimited = errorf(http.StatusTooManyRequests, "rate_limited", "too many requests from your address; wait a minute and try again")
	errInternal    = errorf(http.StatusInternalServerError, "internal", "the broker hit an internal error and logged it; try again shortly")
	errNoDataKey   = errorf(http.StatusServiceUnavailable, "unavailable", "the broker has no data key for root keys; its operator must set BROKER_ENCRYPTION_KEY or BROKER_DATA_DIR")
)

// classify is the ONE mapping from errors to HTTP status, code and message.
func classify(err error) *Error {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, store.ErrInviteRevoked):
		return errorf(http.StatusGone, "revoked", "this invite was revoked by a mesh admin; ask for a new one")
	case errors.Is(err, store.ErrInviteExpired):
		return errorf(http.StatusGone, "expired", "this invite has expired; ask for a new one")
	case errors.Is(err, store.ErrInviteExhausted):
		return errorf(http.StatusGone, "exhausted", "this invite has already been used as many times as it allows; ask for a new one")
	case errors.Is(err, store.ErrNotFound):
		return notFound("not found")
	case errors.Is(err, store.ErrConflict):
		return errorf(http.StatusConflict, "conflict", "that already exists")
	}
	return errInternal
}

// errorBody is the one JSON error shape of invites.md.
type errorBody struct {
	Error     string `json:"error"`
	Message   string `json:"message"`
	Timestamp string `json:"timestamp"`
}

// writeError answers with classify(err); unexpected errors are logged,
// never shown.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := a.classifyLogged(r, err)
	writeJSON(w, e.Status, errorBody{Error: e.Code, Message: e.Message, Timestamp: a.now().UTC().Format(time.RFC3339Nano)})
}

func (a *API) classifyLogged(r *http.Request, err error) *Error {
	e := classify(err)
	if e.Status >= 500 {
		a.log.Error("http request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	return e
}

// writeJoinError is the v1 /join shape: {"ok":false,"error":"invite_<code>"},
// status 400 for every refusal of the invite itself.
func (a *API) writeJoinError(w http.ResponseWriter, r *http.Request, err error) {
	e := a.classifyLogged(r, err)
	status, code := http.StatusBadRequest, "invite_"+e.Code
	switch {
	case e.Status >= 500 || e.Status == http.StatusTooManyRequests:
		status, code = e.Status, e.Code
	case e.Code == "bad_signature" || e.Code == "not_found" || e.Code == "mismatch" ||
		e.Code == "revoked" || e.Code == "expired" || e.Code == "exhausted" || e.Code == "malformed":
	default:
		code = e.Code
	}
	writeJSON(w, status, map[string]any{"ok": false, "error": code, "message": e.Message})
}

// writeResolveMiss is the v1 resolver's answer for anything but a live v1
// invite: it says nothing about why.
func writeResolveMiss(w http.ResponseWriter) {
	writeJSON(w, http.StatusNotFound, map[string]any{"found": false})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
