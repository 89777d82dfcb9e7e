// Package pgtest gives tests a fresh, empty PostgreSQL database on a real
// server: the test cluster that `make test` starts with pg_virtualenv, or the
// one RINGBACK_TEST_POSTGRES names. Without either, tests that need one skip.
//
// It is test support only: production code must not import it.
package pgtest

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Env names the server when set: a postgres:// URL whose user may create
// databases. Its database is the one connected to for CREATE DATABASE.
const Env = "RINGBACK_TEST_POSTGRES"

// timeout bounds creating and dropping a database: a hung server fails the
// test instead of stalling the run.
const timeout = time.Minute

// Database creates a database with a name of its own on the test server,
// drops it when the test ends (connections still open are terminated) and
// returns its URL, password included.
//
// The server is RINGBACK_TEST_POSTGRES if set, else the one the libpq
// variables PGHOST/PGPORT/PGUSER/PGPASSWORD name (pg_virtualenv sets them;
// the "postgres" database when PGDATABASE is unset). With neither, the test
// is skipped. A server that is named but refuses is a failure, not a skip.
func Database(t testing.TB) string {
	t.Helper()
	admin, err := adminURL()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	if admin == nil {
		t.Skip("PostgreSQL tests skipped: no server; make test runs them under pg_virtualenv, or set " + Env)
	}
	name := dbName(t.Name())
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := exec(ctx, admin, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("pgtest: create database %s on %s: %v", name, admin.Redacted(), err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		// FORCE: a store the test left open must not keep the database alive.
		if err := exec(ctx, admin, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	u := *admin
	u.Path = "/" + name
	u.RawPath = ""
	return u.String()
}

// adminURL is the server's URL, or nil when none is configured.
func adminURL() (*url.URL, error) {
	if raw := os.Getenv(Env); raw != "" {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			return nil, fmt.Errorf("%s must be a postgres:// URL", Env)
		}
		if strings.Trim(u.Path, "/") == "" {
			u.Path = "/postgres"
		}
		return u, nil
	}
	host, port := os.Getenv("PGHOST"), os.Getenv("PGPORT")
	if host == "" && port == "" {
		return nil, nil
	}
	u := &url.URL{Scheme: "postgres", Path: "/postgres"}
	if db := os.Getenv("PGDATABASE"); db != "" {
		u.Path = "/" + db
	}
	if user := os.Getenv("PGUSER"); user != "" {
		if pw, ok := os.LookupEnv("PGPASSWORD"); ok {
			u.User = url.UserPassword(user, pw)
		} else {
			u.User = url.User(user)
		}
	}
	q := url.Values{}
	switch {
	case strings.HasPrefix(host, "/"): // a socket directory goes in the query
		q.Set("host", host)
		if port != "" {
			q.Set("port", port)
		}
	case port != "":
		u.Host = net.JoinHostPort(cmp.Or(host, "localhost"), port)
	default:
		u.Host = host
	}
	if mode := os.Getenv("PGSSLMODE"); mode != "" {
		q.Set("sslmode", mode)
	}
	u.RawQuery = q.Encode()
	return u, nil
}

// dbName is unique per call and says which test made it, so a database left
// behind by a killed run can be traced. PostgreSQL names are at most 63 bytes.
func dbName(test string) string {
	var b strings.Builder
	b.WriteString("rbtest_")
	for _, r := range strings.ToLower(test) {
		if b.Len() >= 40 {
			break
		}
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	return b.String() + "_" + hex.EncodeToString(rnd[:])
}

func exec(ctx context.Context, u *url.URL, sql string) error {
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}
