package history_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ringback/ringback/libs/servicetest"
)

func newRegistry() *prometheus.Registry { return prometheus.NewRegistry() }

// serve runs mux on a server of its own for the test.
func serve(t *testing.T, mux *http.ServeMux) string {
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// doAt calls base as agent who and decodes the answer into out.
func doAt(t *testing.T, base, method, path, who string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, base+path, bytes.NewReader(nil))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range servicetest.Bearer(who) {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if out != nil && res.StatusCode < 300 {
		if err := json.NewDecoder(res.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
	return res.StatusCode
}
