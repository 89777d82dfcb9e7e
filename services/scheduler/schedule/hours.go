package schedule

import "github.com/ringback/ringback/libs/officehours"

// Hours are a service's office hours (libs/officehours), named here since
// every command of this package carries them.
type Hours = officehours.Hours

// ParseHours reads one service's hours; see officehours.ParseHours.
var ParseHours = officehours.ParseHours

// Window is one weekly opening of the office hours.
type Window = officehours.Window
