package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/internal/store/storetest"
	"github.com/claudemesh/claudemesh/internal/testkit"
)

type verifyOut struct {
	Rows      int64   `json:"rows"`
	OK        bool    `json:"ok"`
	BrokenSeq *int64  `json:"broken_seq"`
	Reason    *string `json:"reason"`
}

// verify runs `audit verify --mesh ID --json` and returns its report and
// whether it exited 0.
func (e *env) verify(meshID string) (verifyOut, bool) {
	e.t.Helper()
	cmd := exec.Command(brokerBin, "audit", "verify", "--mesh", meshID, "--json")
	cmd.Env = e.vars
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	err := cmd.Run()
	var out verifyOut
	if jerr := json.Unmarshal(stdout.Bytes(), &out); jerr != nil {
		e.t.Fatalf("audit verify: %v, output %q", err, stdout.String())
	}
	return out, err == nil
}

// TestAuditVerifyReportsAnAlteredRow: sessions write audit rows through the
// running broker; the command verifies them, then names a row altered in
// the database and exits 1.
func TestAuditVerifyReportsAnAlteredRow(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			meshID, alice, _ := e.setup()
			e.serve()
			for i := range 2 {
				hello := alice
				hello.SessionID = fmt.Sprintf("audit-%d", i) // two sessions, not a resume
				c, ack := testkit.Connect(t, e.url("ws")+"/ws", hello)
				if ack["type"] != "hello_ack" {
					t.Fatalf("hello: %v", ack)
				}
				c.WS.CloseNow()
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				out, ok := e.verify(meshID)
				if !ok {
					t.Fatalf("verify of an untouched chain failed: %+v", out)
				}
				if out.Rows >= 4 { // two connects, two disconnects
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("audit rows never appeared: %+v", out)
				}
				time.Sleep(20 * time.Millisecond) // polling, bounded by the deadline
			}
			e.exec(`UPDATE audit_log SET actor = 'someone-else' WHERE seq = 2 AND mesh_id = '` + meshID + `'`)
			out, ok := e.verify(meshID)
			if ok || out.OK || out.BrokenSeq == nil || *out.BrokenSeq != 2 || !strings.Contains(*out.Reason, "altered") {
				t.Fatalf("verify after tampering: exit ok %v, %+v", ok, out)
			}
		})
	}
}

func (e *env) exec(query string) {
	e.t.Helper()
	if _, err := storetest.RawDB(e.t, e.dbURL, e.dataDir).Exec(query); err != nil {
		e.t.Fatalf("%s: %v", query, err)
	}
}

// auditEvents lists a mesh's audit events written with the given actor, in
// chain order.
func (e *env) auditEvents(meshID, actor string) []string {
	e.t.Helper()
	db := storetest.RawDB(e.t, e.dbURL, e.dataDir)
	q := "SELECT event FROM audit_log WHERE mesh_id = $1 AND actor = $2 ORDER BY seq"
	if e.dbURL == "" {
		q = "SELECT event FROM audit_log WHERE mesh_id = ?1 AND actor = ?2 ORDER BY seq"
	}
	rows, err := db.Query(q, meshID, actor)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var ev string
		if err := rows.Scan(&ev); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}
