//go:build opus

package sip_test

import (
	"fmt"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
)

// browserInterceptors registers what the test's pion browsers pass their
// RTP through: RTCP sender and receiver reports, as a browser sends, each
// packet's header parsed once into the same attributes and header for the
// whole stream.
//
// pion's defaults add NACK, transport-wide congestion control and a stats
// recorder. None serves an Opus call (browsers ask no NACK for audio, and
// a voice call's bitrate is not steered by bandwidth estimates; nothing
// reads pion's stats), and between them they allocated an attributes map,
// a header and a header's clone per packet: garbage these browsers, which
// share the gateway's process in the tests and its bench, must not make
// for the gateway's GC (issue 15).
func browserInterceptors(r *interceptor.Registry) error {
	r.Add(&headerOnceFactory{}) // first added is innermost: it reads first
	if err := webrtc.ConfigureRTCPReports(r); err != nil {
		return fmt.Errorf("pion browser RTCP reports: %w", err)
	}
	return nil
}

// headerOnceFactory makes headerOnce interceptors.
type headerOnceFactory struct{}

func (headerOnceFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &headerOnce{}, nil
}

// headerOnce hands the interceptors outside it, per stream, one
// Attributes whose RTP header is parsed again in place for each packet.
// pion's readers take the header from the attributes (GetRTPHeader) and
// make both when a reader returns none. A stream is read by one goroutine
// at a time, and the reports interceptor reads the header before Read
// returns and keeps nothing of it, so reusing them is safe; the stats
// recorder, which keeps the attributes, is not registered beside it.
type headerOnce struct {
	interceptor.NoOp
}

func (*headerOnce) BindRemoteStream(_ *interceptor.StreamInfo, reader interceptor.RTPReader) interceptor.RTPReader {
	attrs := interceptor.Attributes{}
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, got, err := reader.Read(b, a)
		if err != nil || got != nil {
			return n, got, err // someone else's attributes: theirs to fill
		}
		h, err := attrs.GetRTPHeader(b[:n]) // parsed and kept the first time
		if err != nil {
			return 0, nil, err
		}
		if _, err := h.Unmarshal(b[:n]); err != nil { // this packet's, in place
			return 0, nil, err
		}
		return n, attrs, nil
	})
}
