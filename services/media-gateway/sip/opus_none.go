//go:build !opus

package sip

// Built without libopus (the default: no cgo needed), the gateway neither
// offers nor accepts Opus; `make build` adds the opus tag when libopus is
// installed (see opus.go).
const opusSupported = false

type opusCodec struct{}

func (*opusCodec) decode(dst, _ []byte) []byte { return dst }
func (*opusCodec) encode(dst, _ []byte) []byte { return dst }
