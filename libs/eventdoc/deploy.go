package eventdoc

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
)

// deploymentFiles are where the topics' partitions and retention would be
// configured, relative to the repository's root.
var deploymentFiles = []string{"docker-compose.yml", "deploy/k8s/base/kustomization.yaml"}

var (
	partitionsRE = regexp.MustCompile(`RINGBACK_KAFKA_PARTITIONS[=:]\s*"?(\d+)`)
	retentionRE  = regexp.MustCompile(`(?i)(KAFKA_LOG_RETENTION_[A-Z]+|retention\.(?:ms|bytes|hours))[=:]\s*"?([^"\s]+)`)
)

// ReadDeployment reads the partitions and retention the repository's
// deployment files set (root: the repository).
func ReadDeployment(root string) (Deployment, error) {
	d := Deployment{Partitions: map[string]string{}, Retention: map[string]string{}}
	for _, f := range deploymentFiles {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			return d, fmt.Errorf("read deployment: %w", err)
		}
		if m := partitionsRE.FindSubmatch(b); m != nil {
			d.Partitions[f] = string(m[1])
		}
		for _, m := range retentionRE.FindAllSubmatch(b, -1) {
			d.Retention[f] = string(m[1]) + "=" + string(m[2])
		}
	}
	return d, nil
}

// Generate renders the catalogue of the repository at root.
func Generate(ctx context.Context, root string) ([]byte, error) {
	pkgs, err := Load(ctx, filepath.Join(root, "proto"))
	if err != nil {
		return nil, err
	}
	dep, err := ReadDeployment(root)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := Render(&b, pkgs, dep); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
