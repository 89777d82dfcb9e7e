package telemetry

import "github.com/ringback/ringback/libs/phone"

// MaskPhone is phone.Mask, where logs and traces are written.
func MaskPhone(n string) string { return phone.Mask(n) }
