module github.com/ringback/ringback/cmd/ringback

go 1.26

require (
	github.com/ringback/ringback/libs v0.0.0
	github.com/ringback/ringback/proto v0.0.0
	github.com/ringback/ringback/services/agent-session v0.0.0
	github.com/ringback/ringback/services/disposition v0.0.0
	github.com/ringback/ringback/services/history v0.0.0
	github.com/ringback/ringback/services/intake v0.0.0
	github.com/ringback/ringback/services/media-gateway v0.0.0
	github.com/ringback/ringback/services/router v0.0.0
	github.com/ringback/ringback/services/scheduler v0.0.0
)

replace (
	github.com/ringback/ringback/libs => ../../libs
	github.com/ringback/ringback/proto => ../../proto
	github.com/ringback/ringback/services/agent-session => ../../services/agent-session
	github.com/ringback/ringback/services/disposition => ../../services/disposition
	github.com/ringback/ringback/services/history => ../../services/history
	github.com/ringback/ringback/services/intake => ../../services/intake
	github.com/ringback/ringback/services/media-gateway => ../../services/media-gateway
	github.com/ringback/ringback/services/router => ../../services/router
	github.com/ringback/ringback/services/scheduler => ../../services/scheduler
)
