//go:build opus

package sip

// BrowserNarrowbandBitrate is browserNarrowbandBitrate, for the load bench.
const BrowserNarrowbandBitrate = browserNarrowbandBitrate
