package pgtest

import (
	"strings"
	"testing"
)

func TestAdminURL(t *testing.T) {
	for _, c := range []struct {
		name string
		env  map[string]string
		want string // "" for no server
	}{
		{"nothing set", nil, ""},
		{"only a user", map[string]string{"PGUSER": "u"}, ""},
		{"pg_virtualenv", map[string]string{"PGHOST": "localhost", "PGPORT": "5433", "PGUSER": "postgres", "PGPASSWORD": "p@ss"},
			"postgres://postgres:p%40ss@localhost:5433/postgres"},
		{"a database named", map[string]string{"PGHOST": "db", "PGDATABASE": "admin"}, "postgres://db/admin"},
		{"a socket directory", map[string]string{"PGHOST": "/run/postgresql", "PGPORT": "5432"},
			"postgres:///postgres?host=%2Frun%2Fpostgresql&port=5432"},
		{"only a port", map[string]string{"PGPORT": "5433", "PGSSLMODE": "disable"},
			"postgres://localhost:5433/postgres?sslmode=disable"},
		{"the URL wins", map[string]string{Env: "postgres://a:b@h:1/x?sslmode=disable", "PGHOST": "other"},
			"postgres://a:b@h:1/x?sslmode=disable"},
		{"the URL without a database", map[string]string{Env: "postgresql://h"}, "postgresql://h/postgres"},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, k := range []string{Env, "PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE", "PGSSLMODE"} {
				t.Setenv(k, c.env[k])
			}
			u, err := adminURL()
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if u != nil {
				got = u.String()
			}
			if got != c.want {
				t.Errorf("adminURL = %q, want %q", got, c.want)
			}
		})
	}
	t.Setenv(Env, "host=h user=u")
	if _, err := adminURL(); err == nil {
		t.Error("a keyword/value string was taken for a URL")
	}
}

func TestDBName(t *testing.T) {
	a, b := dbName("TestX/sub case:"+strings.Repeat("y", 100)), dbName("TestX/sub case:"+strings.Repeat("y", 100))
	if a == b {
		t.Errorf("two calls gave the same name %s", a)
	}
	if len(a) > 63 || strings.Trim(a, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" {
		t.Errorf("name %q is not a plain PostgreSQL identifier of at most 63 bytes", a)
	}
}
