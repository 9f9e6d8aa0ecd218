package brokerproc

import (
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestRSSOfThisProcess(t *testing.T) {
	rss, peak, err := RSS(os.Getpid())
	if err != nil || rss <= 0 || peak < rss {
		t.Fatalf("RSS = %d, peak %d, %v", rss, peak, err)
	}
	if _, _, err := RSS(-1); err == nil {
		t.Fatal("a missing process must be an error")
	}
	s := Sample(os.Getpid(), 1e6)
	if hi, last := s.Stop(); hi <= 0 || last <= 0 || hi < last {
		t.Fatalf("sampler max %d, last %d", hi, last)
	}
}

func TestFindRepoFromASubdirectory(t *testing.T) {
	wd, _ := os.Getwd()
	repo, err := FindRepo(wd)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(repo, "cmd", "broker")); err != nil {
		t.Fatalf("repo %s has no cmd/broker: %v", repo, err)
	}
	if _, err := FindRepo(t.TempDir()); err == nil {
		t.Fatal("outside the repository must be an error")
	}
}

func TestMergeEnvOverridesAndAdds(t *testing.T) {
	got := mergeEnv([]string{"A=1", "B=2", "PATH=/bin"}, map[string]string{"B": "3", "C": "4"})
	want := []string{"A=1", "PATH=/bin", "B=3", "C=4"}
	if !slices.Equal(got, want) {
		t.Fatalf("mergeEnv = %v, want %v", got, want)
	}
}

func TestRaiseNoFile(t *testing.T) {
	n, err := RaiseNoFile()
	if err != nil || n < 1024 {
		t.Fatalf("RaiseNoFile = %d, %v", n, err)
	}
}

func TestThrowawayPostgres(t *testing.T) {
	if _, err := postgresBin(); err != nil {
		if os.Getenv("CLAUDEMESH_REQUIRE_POSTGRES") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	pg, err := StartPostgres(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatalf("the cluster does not accept connections at %s: %v", u.Host, err)
	}
	c.Close()
	pg.Stop()
	if _, err := os.Stat(pg.dir); !os.IsNotExist(err) {
		t.Fatalf("Stop left %s behind: %v", pg.dir, err)
	}
}
