//go:build !linux

package personal

func (d *Dir) put(ns, name string, v []byte) error { return d.putTemp(ns, name, v) }
