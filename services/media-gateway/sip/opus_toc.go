package sip

// opusClock is Opus's RTP clock rate, whatever the audio bandwidth (RFC
// 7587 4.1).
const opusClock = 48000

// opusTicks is the duration of an Opus packet in 48 kHz ticks, from its TOC
// byte (RFC 6716 3.1); 0 for a packet too short to say.
func opusTicks(p []byte) uint32 {
	if len(p) == 0 {
		return 0
	}
	toc := p[0]
	config := toc >> 3
	var tenthsMs int // frame duration in tenths of a millisecond
	switch {
	case config < 12: // SILK: 10, 20, 40, 60 ms
		tenthsMs = [...]int{100, 200, 400, 600}[config%4]
	case config < 16: // hybrid: 10, 20 ms
		tenthsMs = [...]int{100, 200}[config%2]
	default: // CELT: 2.5, 5, 10, 20 ms
		tenthsMs = [...]int{25, 50, 100, 200}[config%4]
	}
	frames := 1
	switch toc & 3 {
	case 1, 2:
		frames = 2
	case 3:
		if len(p) < 2 {
			return 0
		}
		frames = int(p[1] & 0x3f)
	}
	return uint32(frames * tenthsMs * opusClock / 10000)
}
